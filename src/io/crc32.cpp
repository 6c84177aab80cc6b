#include "io/crc32.h"

#include <zlib.h>

#include <algorithm>
#include <vector>

#include "core/threads.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define MB_CRC32_CLMUL 1
#endif

namespace mb {

uint32_t crc32_portable(const void* data, size_t n, uint32_t crc) {
  const auto* p = static_cast<const Bytef*>(data);
  uLong c = crc;
  while (n > 0) {
    uInt k = static_cast<uInt>(std::min<size_t>(n, 1u << 30));  // zlib takes 32-bit lengths
    c = ::crc32(c, p, k);
    p += k;
    n -= k;
  }
  return static_cast<uint32_t>(c);
}

#ifdef MB_CRC32_CLMUL
namespace {

// Folding (Intel's "Fast CRC Computation Using PCLMULQDQ"): a 128-bit lane x that stands for bytes
// now D bytes back is replaced by x_lo * (x^(8D+32) mod P) xor x_hi * (x^(8D-32) mod P) (bit-reflected),
// which leaves the CRC unchanged, and the next 16 bytes are xored in. Four lanes fold 64 bytes a step.
constexpr long long kFold64Lo = 0x154442bd4, kFold64Hi = 0x1c6e41596;  // D = 64
constexpr long long kFold16Lo = 0x1751997d0, kFold16Hi = 0x0ccaa009e;  // D = 16

__attribute__((target("pclmul,sse4.1"))) inline __m128i fold(__m128i x, __m128i k, __m128i next) {
  __m128i lo = _mm_clmulepi64_si128(x, k, 0x00);
  __m128i hi = _mm_clmulepi64_si128(x, k, 0x11);
  return _mm_xor_si128(_mm_xor_si128(lo, hi), next);
}

__attribute__((target("pclmul,sse4.1"))) inline __m128i load(const uint8_t* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}

__attribute__((target("pclmul,sse4.1"))) uint32_t crc32_clmul(const uint8_t* p, size_t n, uint32_t crc) {
  const __m128i k64 = _mm_set_epi64x(kFold64Hi, kFold64Lo);
  const __m128i k16 = _mm_set_epi64x(kFold16Hi, kFold16Lo);
  // The running CRC register (zlib keeps it inverted) enters as an xor into the first four bytes.
  __m128i x0 = _mm_xor_si128(load(p), _mm_cvtsi32_si128(static_cast<int>(~crc)));
  __m128i x1 = load(p + 16), x2 = load(p + 32), x3 = load(p + 48);
  p += 64;
  n -= 64;
  for (; n >= 64; p += 64, n -= 64) {
    x0 = fold(x0, k64, load(p));
    x1 = fold(x1, k64, load(p + 16));
    x2 = fold(x2, k64, load(p + 32));
    x3 = fold(x3, k64, load(p + 48));
  }
  __m128i x = fold(fold(fold(x0, k16, x1), k16, x2), k16, x3);
  for (; n >= 16; p += 16, n -= 16) x = fold(x, k16, load(p));
  // The 16 bytes of x now have the CRC (from a zero register) of everything folded so far: zlib
  // finishes them (register 0 is zlib's "crc" 0xFFFFFFFF) and the tail of fewer than 16 bytes.
  alignas(16) uint8_t lane[16];
  _mm_store_si128(reinterpret_cast<__m128i*>(lane), x);
  uint32_t c = static_cast<uint32_t>(::crc32(0xFFFFFFFFu, lane, 16));
  return static_cast<uint32_t>(::crc32(c, p, static_cast<uInt>(n)));
}

bool cpu_has_clmul() {
  static const bool has = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
  return has;
}

}  // namespace
#endif

namespace {
uint32_t crc32_one_thread(const void* data, size_t n, uint32_t crc) {
#ifdef MB_CRC32_CLMUL
  if (n >= 64 && cpu_has_clmul()) return crc32_clmul(static_cast<const uint8_t*>(data), n, crc);
#endif
  return crc32_portable(data, n, crc);
}
}  // namespace

uint32_t crc32_of(const void* data, size_t n, uint32_t crc) {
  if (n < kParallelBytes) return crc32_one_thread(data, n, crc);
  // Pieces on several cores, joined by zlib's crc32_combine (the CRC of A then B from those of A and B).
  const auto* p = static_cast<const uint8_t*>(data);
  const size_t pieces = (n + kParallelPieceBytes - 1) / kParallelPieceBytes;
  std::vector<uint32_t> crcs(pieces);
  parallel_pieces(n, kParallelPieceBytes, [&](size_t begin, size_t length) {
    crcs[begin / kParallelPieceBytes] = crc32_one_thread(p + begin, length, 0);
  });
  uLong c = crc;
  for (size_t i = 0; i < pieces; ++i)
    c = crc32_combine64(c, crcs[i], static_cast<z_off64_t>(std::min(kParallelPieceBytes, n - i * kParallelPieceBytes)));
  return static_cast<uint32_t>(c);
}

}  // namespace mb
