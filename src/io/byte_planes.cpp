#include "io/byte_planes.h"

#include <cstring>

#include "core/error.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace mb {

size_t plane_width_for(size_t element_size) {
  return element_size == 2 || element_size == 4 || element_size == 8 ? element_size : 1;
}

namespace {

void check(size_t bytes, size_t width) {
  if (width == 0 || width > 8 || bytes % width != 0)
    fail(Status::kInternal, "byte planes: ", bytes, " bytes are not whole elements of ", width, " bytes");
}

// Any width, one byte at a time: the reference, and the tail of the vector loops below.
void split_bytes(const uint8_t* src, size_t n, size_t width, uint8_t* dst, size_t from) {
  for (size_t i = from; i < n; ++i)
    for (size_t k = 0; k < width; ++k) dst[k * n + i] = src[i * width + k];
}
void merge_bytes(const uint8_t* src, size_t n, size_t width, uint8_t* dst, size_t from) {
  for (size_t i = from; i < n; ++i)
    for (size_t k = 0; k < width; ++k) dst[i * width + k] = src[k * n + i];
}

#if defined(__SSE2__)
// bf16/f16 and f32 are what models hold; these run every decoded byte through the CPU, so they use SSE2
// (part of every x86-64) 16 elements at a time: byte interleaves (unpack) to merge, masks and packs to split.
__m128i load(const uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }
void store(uint8_t* p, __m128i v) { _mm_storeu_si128(reinterpret_cast<__m128i*>(p), v); }

size_t merge2(const uint8_t* src, size_t n, uint8_t* dst) {
  const uint8_t *p0 = src, *p1 = src + n;
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m128i a = load(p0 + i), b = load(p1 + i);
    store(dst + 2 * i, _mm_unpacklo_epi8(a, b));
    store(dst + 2 * i + 16, _mm_unpackhi_epi8(a, b));
  }
  return i;
}

size_t merge4(const uint8_t* src, size_t n, uint8_t* dst) {
  const uint8_t *p0 = src, *p1 = src + n, *p2 = src + 2 * n, *p3 = src + 3 * n;
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m128i a = load(p0 + i), b = load(p1 + i), c = load(p2 + i), d = load(p3 + i);
    __m128i ab_lo = _mm_unpacklo_epi8(a, b), ab_hi = _mm_unpackhi_epi8(a, b);
    __m128i cd_lo = _mm_unpacklo_epi8(c, d), cd_hi = _mm_unpackhi_epi8(c, d);
    store(dst + 4 * i, _mm_unpacklo_epi16(ab_lo, cd_lo));
    store(dst + 4 * i + 16, _mm_unpackhi_epi16(ab_lo, cd_lo));
    store(dst + 4 * i + 32, _mm_unpacklo_epi16(ab_hi, cd_hi));
    store(dst + 4 * i + 48, _mm_unpackhi_epi16(ab_hi, cd_hi));
  }
  return i;
}

// 8 elements of 16 bits in x and 8 in y -> their low bytes, then their high bytes.
void split16(__m128i x, __m128i y, __m128i* lo, __m128i* hi) {
  const __m128i mask = _mm_set1_epi16(0x00FF);
  *lo = _mm_packus_epi16(_mm_and_si128(x, mask), _mm_and_si128(y, mask));
  *hi = _mm_packus_epi16(_mm_srli_epi16(x, 8), _mm_srli_epi16(y, 8));
}

size_t split2(const uint8_t* src, size_t n, uint8_t* dst) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m128i lo, hi;
    split16(load(src + 2 * i), load(src + 2 * i + 16), &lo, &hi);
    store(dst + i, lo);
    store(dst + n + i, hi);
  }
  return i;
}

size_t split4(const uint8_t* src, size_t n, uint8_t* dst) {
  size_t i = 0;
  // the low and high 16 bits of 32-bit lanes, exact through signed packing after sign extension
  auto low16 = [](__m128i x) { return _mm_srai_epi32(_mm_slli_epi32(x, 16), 16); };
  for (; i + 16 <= n; i += 16) {
    __m128i x0 = load(src + 4 * i), x1 = load(src + 4 * i + 16), x2 = load(src + 4 * i + 32), x3 = load(src + 4 * i + 48);
    __m128i l01 = _mm_packs_epi32(low16(x0), low16(x1)), l23 = _mm_packs_epi32(low16(x2), low16(x3));
    __m128i h01 = _mm_packs_epi32(_mm_srai_epi32(x0, 16), _mm_srai_epi32(x1, 16));
    __m128i h23 = _mm_packs_epi32(_mm_srai_epi32(x2, 16), _mm_srai_epi32(x3, 16));
    __m128i b0, b1, b2, b3;
    split16(l01, l23, &b0, &b1);
    split16(h01, h23, &b2, &b3);
    store(dst + i, b0);
    store(dst + n + i, b1);
    store(dst + 2 * n + i, b2);
    store(dst + 3 * n + i, b3);
  }
  return i;
}
#else
size_t merge2(const uint8_t*, size_t, uint8_t*) { return 0; }
size_t merge4(const uint8_t*, size_t, uint8_t*) { return 0; }
size_t split2(const uint8_t*, size_t, uint8_t*) { return 0; }
size_t split4(const uint8_t*, size_t, uint8_t*) { return 0; }
#endif

}  // namespace

void split_planes(const uint8_t* src, size_t bytes, size_t width, uint8_t* dst) {
  check(bytes, width);
  const size_t n = bytes / width;
  if (width == 1) {
    if (bytes) std::memcpy(dst, src, bytes);
    return;
  }
  size_t done = width == 2 ? split2(src, n, dst) : width == 4 ? split4(src, n, dst) : 0;
  split_bytes(src, n, width, dst, done);
}

void merge_planes(const uint8_t* src, size_t bytes, size_t width, uint8_t* dst) {
  check(bytes, width);
  const size_t n = bytes / width;
  if (width == 1) {
    if (bytes) std::memcpy(dst, src, bytes);
    return;
  }
  size_t done = width == 2 ? merge2(src, n, dst) : width == 4 ? merge4(src, n, dst) : 0;
  merge_bytes(src, n, width, dst, done);
}

}  // namespace mb
