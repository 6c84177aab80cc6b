#include "io/byte_planes.h"

#include <cstring>

#include "core/error.h"

namespace mb {

size_t plane_width_for(size_t element_size) {
  return element_size == 2 || element_size == 4 || element_size == 8 ? element_size : 1;
}

namespace {

void check(size_t bytes, size_t width) {
  if (width == 0 || width > 8 || bytes % width != 0)
    fail(Status::kInternal, "byte planes: ", bytes, " bytes are not whole elements of ", width, " bytes");
}

// Fixed widths let the compiler unroll the inner loop; these run at memory speed.
template <size_t W>
void split_fixed(const uint8_t* src, size_t n, uint8_t* dst) {
  for (size_t i = 0; i < n; ++i)
    for (size_t k = 0; k < W; ++k) dst[k * n + i] = src[i * W + k];
}

template <size_t W>
void merge_fixed(const uint8_t* src, size_t n, uint8_t* dst) {
  for (size_t i = 0; i < n; ++i)
    for (size_t k = 0; k < W; ++k) dst[i * W + k] = src[k * n + i];
}

}  // namespace

void split_planes(const uint8_t* src, size_t bytes, size_t width, uint8_t* dst) {
  check(bytes, width);
  const size_t n = bytes / width;
  switch (width) {
    case 2: split_fixed<2>(src, n, dst); return;
    case 4: split_fixed<4>(src, n, dst); return;
    case 8: split_fixed<8>(src, n, dst); return;
    default:
      if (width == 1) {
        if (bytes) std::memcpy(dst, src, bytes);
        return;
      }
      for (size_t i = 0; i < n; ++i)
        for (size_t k = 0; k < width; ++k) dst[k * n + i] = src[i * width + k];
  }
}

void merge_planes(const uint8_t* src, size_t bytes, size_t width, uint8_t* dst) {
  check(bytes, width);
  const size_t n = bytes / width;
  switch (width) {
    case 2: merge_fixed<2>(src, n, dst); return;
    case 4: merge_fixed<4>(src, n, dst); return;
    case 8: merge_fixed<8>(src, n, dst); return;
    default:
      if (width == 1) {
        if (bytes) std::memcpy(dst, src, bytes);
        return;
      }
      for (size_t i = 0; i < n; ++i)
        for (size_t k = 0; k < width; ++k) dst[i * width + k] = src[k * n + i];
  }
}

}  // namespace mb
