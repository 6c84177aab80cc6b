#include "io/image_file.h"

#include <cstring>

#include "core/error.h"
#include "core/mapped_file.h"

namespace mb {

RgbImage decode_image(const uint8_t* data, size_t size, const std::string& what) {
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (size >= sizeof(kPng) && std::memcmp(data, kPng, sizeof(kPng)) == 0) return decode_png(data, size, what);
  if (size >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff) return decode_jpeg(data, size, what);
  fail(Status::kFormat, what, ": neither a PNG nor a JPEG file (the images mbridge reads)");
}

RgbImage read_image_file(const std::string& path) {
  std::shared_ptr<MappedFile> file = MappedFile::open(path);
  return decode_image(file->data(), file->size(), path);
}

}  // namespace mb
