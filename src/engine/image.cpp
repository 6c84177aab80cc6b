#include "engine/image.h"

#include <cmath>

#include "core/error.h"

namespace mb::engine {

void check_tower_image(const bridge::ModelConfig& c, const Image& image) {
  const int64_t C = c.image_channels, size = c.image_size;
  if (image.channels != C || image.height != size || image.width != size ||
      image.pixels.size() != static_cast<size_t>(C * size * size))
    fail(Status::kInvalidArgument, "an image of ", image.channels, " x ", image.height, " x ", image.width, " (",
         image.pixels.size(), " values) where ", c.family, " takes ", C, " x ", size, " x ", size);
}

void read_normalisation(const json::Value& config, const std::string& source, float mean[3], float std[3]) {
  for (const auto& [key, dst] : {std::pair<const char*, float*>{"image_mean", mean}, {"image_std", std}}) {
    const json::Value* v = config.find(key);
    if (!v || v->is_null()) continue;
    if (!v->is_array() || v->size() != 3) fail(Status::kFormat, source, ": ", key, " must list three numbers");
    for (size_t c = 0; c < 3; ++c) {
      const json::Value& x = v->items()[c];
      if (!x.is_number() || (dst == std && x.as_number() <= 0))
        fail(Status::kFormat, source, ": ", key, " must list three numbers (std positive)");
      dst[c] = static_cast<float>(x.as_number());
    }
  }
  const json::Value* rescale = config.find("rescale_factor");
  if (rescale && rescale->is_number() && std::fabs(rescale->as_number() - 1.0 / 255.0) > 1e-12)
    fail(Status::kUnsupported, source, ": rescale_factor ", rescale->as_number(), " (1/255 is supported)");
}

std::vector<float> normalised_channels(const uint8_t* rgb, int64_t height, int64_t width, const float mean[3],
                                       const float std[3]) {
  constexpr int64_t C = 3;
  std::vector<float> chw(static_cast<size_t>(C * height * width));
  for (int64_t y = 0; y < height; ++y)
    for (int64_t x = 0; x < width; ++x)
      for (int64_t c = 0; c < C; ++c) {
        const float v = static_cast<float>(rgb[(y * width + x) * C + c] * (1.0 / 255.0));
        chw[static_cast<size_t>((c * height + y) * width + x)] = (v - mean[c]) / std[c];
      }
  return chw;
}

}  // namespace mb::engine
