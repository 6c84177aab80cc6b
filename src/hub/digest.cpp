#include "hub/digest.h"

#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

namespace mb::hub {

namespace {

constexpr uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }
constexpr uint32_t rotl(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

uint32_t load_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

std::string hex(const uint32_t* words, int count) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(static_cast<size_t>(count) * 8);
  for (int i = 0; i < count; ++i)
    for (int shift = 28; shift >= 0; shift -= 4) out.push_back(kDigits[(words[i] >> shift) & 0xF]);
  return out;
}

// Both hashes pad the same way: a 1 bit, zeros, then the message length in bits as a 64-bit big-endian
// number, so that the total is a multiple of 64 bytes.
template <class Hash>
void pad(Hash& hash, uint64_t length) {
  uint8_t tail[72] = {0x80};
  size_t used = length % 64;
  size_t zeros = (used < 56 ? 56 - used : 120 - used) - 1;
  uint64_t bits = length * 8;
  for (int i = 0; i < 8; ++i) tail[1 + zeros + i] = static_cast<uint8_t>(bits >> (56 - 8 * i));
  hash.update(tail, 1 + zeros + 8);
}

// Feeds `data` to a hash in whole 64-byte blocks (`blocks(pointer, count)`), keeping a partial block in `buffer`.
template <class BlocksFn>
void feed(const void* data, size_t size, uint8_t* buffer, size_t& buffered, uint64_t& length, BlocksFn blocks) {
  const auto* p = static_cast<const uint8_t*>(data);
  length += size;
  if (buffered) {
    size_t take = size < 64 - buffered ? size : 64 - buffered;
    std::memcpy(buffer + buffered, p, take);
    buffered += take;
    p += take;
    size -= take;
    if (buffered < 64) return;
    blocks(buffer, 1);
    buffered = 0;
  }
  if (size >= 64) blocks(p, size / 64);
  p += size / 64 * 64;
  size %= 64;
  std::memcpy(buffer, p, size);
  buffered = size;
}

// SHA-256 round constants: the first 32 bits of the fractional parts of the cube roots of the first 64
// primes (FIPS 180-4, 4.2.2).
constexpr uint32_t kK256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

}  // namespace

// ---- SHA-256 -----------------------------------------------------------------------------------------

Sha256::Sha256(bool use_hardware)
    : hardware_(use_hardware && hardware_available()),
      h_{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19} {}

namespace {

void sha256_portable(uint32_t* state, const uint8_t* p, size_t count) {
  for (; count > 0; --count, p += 64) {
    uint32_t w[64];
    for (int t = 0; t < 16; ++t) w[t] = load_be32(p + 4 * t);
    for (int t = 16; t < 64; ++t) {
      uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
      uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
      w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
    for (int t = 0; t < 64; ++t) {
      uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + kK256[t] + w[t];
      uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      h = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    state[0] += a, state[1] += b, state[2] += c, state[3] += d;
    state[4] += e, state[5] += f, state[6] += g, state[7] += h;
  }
}

#if defined(__x86_64__)
// The SHA extensions (SHA-NI): sha256rnds2 does two rounds on the state held as two registers, {A,B,E,F}
// and {C,D,G,H} (A in the top lane); sha256msg1/msg2 extend the message schedule four words at a time.
__attribute__((target("sha,sse4.1,ssse3"))) void sha256_hardware(uint32_t* state, const uint8_t* p, size_t count) {
  const __m128i byte_swap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
  __m128i dcba = _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(state)), 0xB1);  // B A D C
  __m128i hgfe = _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(state + 4)), 0x1B);  // H G F E
  __m128i abef = _mm_alignr_epi8(dcba, hgfe, 8);
  __m128i cdgh = _mm_blend_epi16(hgfe, dcba, 0xF0);
  for (; count > 0; --count, p += 64) {
    const __m128i abef_in = abef, cdgh_in = cdgh;
    __m128i m[4];
    for (int i = 0; i < 4; ++i)
      m[i] = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * i)), byte_swap);
    for (int g = 0; g < 16; ++g) {
      __m128i& w = m[g & 3];
      if (g >= 4) {  // W[t..t+3] from W[t-16..t-13], W[t-15], W[t-7..t-4] and W[t-4..t-1]
        __m128i t = _mm_add_epi32(_mm_sha256msg1_epu32(w, m[(g + 1) & 3]), _mm_alignr_epi8(m[(g + 3) & 3], m[(g + 2) & 3], 4));
        w = _mm_sha256msg2_epu32(t, m[(g + 3) & 3]);
      }
      __m128i wk = _mm_add_epi32(w, _mm_loadu_si128(reinterpret_cast<const __m128i*>(kK256 + 4 * g)));
      cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);  // two rounds: the new A,B,E,F; the old ones are C,D,G,H
      wk = _mm_shuffle_epi32(wk, 0x0E);
      abef = _mm_sha256rnds2_epu32(abef, cdgh, wk);
    }
    abef = _mm_add_epi32(abef, abef_in);
    cdgh = _mm_add_epi32(cdgh, cdgh_in);
  }
  __m128i feba = _mm_shuffle_epi32(abef, 0x1B);  // lanes A B E F
  __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);  // lanes G H C D
  _mm_storeu_si128(reinterpret_cast<__m128i*>(state), _mm_blend_epi16(feba, dchg, 0xF0));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(state + 4), _mm_alignr_epi8(dchg, feba, 8));
}
#endif

}  // namespace

bool Sha256::hardware_available() {
#if defined(__x86_64__)
  static const bool available = [] {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
    const bool ssse3 = c & (1u << 9), sse41 = c & (1u << 19);
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    return ssse3 && sse41 && (b & (1u << 29));  // CPUID.7.0:EBX bit 29: SHA
  }();
  return available;
#else
  return false;
#endif
}

void Sha256::blocks(const uint8_t* p, size_t count) {
#if defined(__x86_64__)
  if (hardware_) return sha256_hardware(h_, p, count);
#endif
  sha256_portable(h_, p, count);
}

void Sha256::update(const void* data, size_t size) {
  feed(data, size, buffer_, buffered_, length_, [this](const uint8_t* p, size_t n) { blocks(p, n); });
}

std::string Sha256::hex_digest() {
  pad(*this, length_);
  return hex(h_, 8);
}

// ---- SHA-1 -------------------------------------------------------------------------------------------

Sha1::Sha1() : h_{0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0} {}

void Sha1::block(const uint8_t* p) {
  uint32_t w[80];
  for (int t = 0; t < 16; ++t) w[t] = load_be32(p + 4 * t);
  for (int t = 16; t < 80; ++t) w[t] = rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
  uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4];
  for (int t = 0; t < 80; ++t) {
    uint32_t f, k;
    if (t < 20) f = (b & c) | (~b & d), k = 0x5a827999;
    else if (t < 40) f = b ^ c ^ d, k = 0x6ed9eba1;
    else if (t < 60) f = (b & c) | (b & d) | (c & d), k = 0x8f1bbcdc;
    else f = b ^ c ^ d, k = 0xca62c1d6;
    uint32_t temp = rotl(a, 5) + f + e + k + w[t];
    e = d;
    d = c;
    c = rotl(b, 30);
    b = a;
    a = temp;
  }
  h_[0] += a, h_[1] += b, h_[2] += c, h_[3] += d, h_[4] += e;
}

void Sha1::update(const void* data, size_t size) {
  feed(data, size, buffer_, buffered_, length_, [this](const uint8_t* p, size_t n) {
    for (; n > 0; --n, p += 64) block(p);
  });
}

std::string Sha1::hex_digest() {
  pad(*this, length_);
  return hex(h_, 5);
}

// ---- what a Hub file name promises -------------------------------------------------------------------

namespace {
bool is_lower_hex(const std::string& s, size_t digits) {
  if (s.size() != digits) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}
}  // namespace

BlobDigest::Kind BlobDigest::kind_of(const std::string& etag) {
  if (is_lower_hex(etag, 64)) return Kind::kSha256;
  if (is_lower_hex(etag, 40)) return Kind::kGitSha1;
  return Kind::kNone;
}

BlobDigest::BlobDigest(const std::string& etag, uint64_t size) : kind_(kind_of(etag)) {
  if (kind_ == Kind::kGitSha1) {
    std::string header = "blob " + std::to_string(size);
    sha1_.update(header.data(), header.size() + 1);  // with its NUL
  }
}

void BlobDigest::update(const void* data, size_t size) {
  if (kind_ == Kind::kSha256) sha256_.update(data, size);
  else if (kind_ == Kind::kGitSha1) sha1_.update(data, size);
}

std::string BlobDigest::finish() {
  if (kind_ == Kind::kSha256) return sha256_.hex_digest();
  if (kind_ == Kind::kGitSha1) return sha1_.hex_digest();
  return "";
}

const char* BlobDigest::algorithm() const {
  return kind_ == Kind::kSha256 ? "sha256" : kind_ == Kind::kGitSha1 ? "git-sha1" : "none";
}

}  // namespace mb::hub
