// The input as a bundle (Bundle::parse: preamble, end record, index; then every member's image made and
// wholly pinned, which decodes every chunk and checks it) or, when it starts with "MBTF", as a tensor frame
// (parse_tensor_frame, then decode_tensor_frame). Members claiming more than 16 MB are not decoded (the
// index alone may promise terabytes; the parser's checks are what is fuzzed, not the machine's memory).
// The CRC-32 of a bundle's index and of a frame's header are recomputed before parsing when the input has
// the structure to hold them: a mutated index or header then reaches the parser instead of stopping at the
// checksum (the unit tests check that a wrong checksum is refused).
#include <cstring>
#include <vector>

#include "core/error.h"
#include "io/bundle_reader.h"
#include "io/crc32.h"
#include "io/tensor_frame.h"
#include "fuzz_common.h"

namespace {
constexpr uint64_t kMaxDecoded = 16u << 20;

uint64_t get_le(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
void put_le32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

void fix_checksums(std::vector<uint8_t>& b) {
  if (b.size() >= 16 && std::memcmp(b.data(), "MBTF", 4) == 0) {
    uint64_t header = get_le(b.data() + 8, 4);
    if (header >= 16 && header <= b.size()) put_le32(b.data() + 12, mb::crc32_of(b.data() + 16, header - 16));
  } else if (b.size() >= 48) {
    uint8_t* end = b.data() + b.size() - 32;
    uint64_t offset = get_le(end, 8), length = get_le(end + 8, 8);
    if (offset <= b.size() - 32 && length <= b.size() - 32 - offset)
      put_le32(end + 16, mb::crc32_of(b.data() + offset, length));
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* input, size_t size) {
  std::vector<uint8_t> copy(input, input + size);
  fix_checksums(copy);
  const uint8_t* data = copy.data();
  try {
    if (size >= 4 && std::memcmp(data, "MBTF", 4) == 0) {
      mb::TensorFrameInfo info = mb::parse_tensor_frame({data, size});
      if (info.nbytes > kMaxDecoded) return 0;
      std::vector<uint8_t> out(info.nbytes);
      mb::decode_tensor_frame({data, size}, out.data(), out.size(), 1);
      mbfuzz::consume(out.data(), out.size());
      return 0;
    }
    auto bundle = mb::Bundle::parse({data, size}, nullptr, "fuzz.mbz");
    auto tree = bundle->tree();
    for (const std::string& name : tree->list("")) (void)tree->is_directory(name);
    for (const mb::BundleFile& f : bundle->index().files) {
      if (f.size > kMaxDecoded) continue;
      try {
        auto image = bundle->image(f);
        auto pin = image->pin(0, image->size());
        mbfuzz::consume(image->data(), image->size());
        image->release_unpinned();
      } catch (const mb::Error&) {
      }
    }
  } catch (const mb::Error&) {
  }
  return 0;
}
