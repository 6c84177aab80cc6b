// PNG and JPEG files decoded to 8-bit RGB with Debian's libpng and libjpeg-turbo, as Pillow's
// Image.open(path).convert("RGB") gives them to transformers' image processors: grey expanded to three
// channels, palettes expanded, alpha dropped (not composited), 16-bit colour samples cut to their high byte and
// 16-bit grey ones clipped to 255 (Pillow reads those as 32-bit integers), JPEG with
// libjpeg's defaults (islow IDCT, fancy upsampling). The file is untrusted: sizes are bounded before anything is
// allocated, and every decoder error is a format error naming the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mb {

struct RgbImage {
  int64_t width = 0, height = 0;
  std::vector<uint8_t> pixels;  // [height][width][3]
};

// The most pixels (and the longest side) an image may have; larger ones are refused before decoding.
constexpr int64_t kMaxImagePixels = int64_t{1} << 28;
constexpr int64_t kMaxImageSide = int64_t{1} << 16;

// By content (PNG or JPEG signature), not by file name.
RgbImage read_image_file(const std::string& path);
RgbImage decode_image(const uint8_t* data, size_t size, const std::string& what);
RgbImage decode_png(const uint8_t* data, size_t size, const std::string& what);
RgbImage decode_jpeg(const uint8_t* data, size_t size, const std::string& what);

}  // namespace mb
