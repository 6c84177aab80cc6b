// decode_image (PNG through libpng, JPEG through libjpeg) on the input; a decoded image's pixels read, and a
// small one resized and cut into Qwen2-VL patches as a prompt's image would be.
#include "core/error.h"
#include "engine/qwen2_vl_image.h"
#include "fuzz_common.h"
#include "io/image_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const mb::RgbImage image = mb::decode_image(data, size, "fuzz image");
    if (image.pixels.size() != static_cast<size_t>(image.width * image.height * 3)) __builtin_trap();
    mbfuzz::consume(image.pixels.data(), image.pixels.size());
    if (image.width * image.height <= 4096) {
      mb::engine::VisionPreprocessing p;
      p.min_pixels = 28 * 28;
      p.max_pixels = 28 * 28 * 4;
      const mb::engine::VisionPatches v = mb::engine::preprocess_qwen2_vl(image, p);
      mbfuzz::consume(v.pixels.data(), v.pixels.size() * sizeof(float));
    }
  } catch (const mb::Error&) {
  }
  return 0;
}
