// For tests/images/test_vs_pillow.py: an image file decoded (io/image_file.h) and, given a size, resized as
// Pillow's BICUBIC does (engine/image_resize.h); prints "width height" and a newline, then the RGB bytes.
// usage: image_dump FILE [WIDTH HEIGHT]
#include <cstdio>
#include <cstdlib>

#include "core/error.h"
#include "engine/image_resize.h"
#include "io/image_file.h"

int main(int argc, char** argv) {
  if (argc != 2 && argc != 4) {
    std::fprintf(stderr, "usage: %s FILE [WIDTH HEIGHT]\n", argv[0]);
    return 2;
  }
  try {
    mb::RgbImage image = mb::read_image_file(argv[1]);
    if (argc == 4) image = mb::engine::resize_bicubic(image, std::atoll(argv[2]), std::atoll(argv[3]));
    std::printf("%lld %lld\n", static_cast<long long>(image.width), static_cast<long long>(image.height));
    std::fwrite(image.pixels.data(), 1, image.pixels.size(), stdout);
  } catch (const mb::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
