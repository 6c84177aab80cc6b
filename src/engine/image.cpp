#include "engine/image.h"

#include "core/error.h"

namespace mb::engine {

void check_tower_image(const bridge::ModelConfig& c, const Image& image) {
  const int64_t C = c.image_channels, size = c.image_size;
  if (image.channels != C || image.height != size || image.width != size ||
      image.pixels.size() != static_cast<size_t>(C * size * size))
    fail(Status::kInvalidArgument, "an image of ", image.channels, " x ", image.height, " x ", image.width, " (",
         image.pixels.size(), " values) where ", c.family, " takes ", C, " x ", size, " x ", size);
}

}  // namespace mb::engine
