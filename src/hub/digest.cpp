#include "hub/digest.h"

#include <cstring>

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

// Feeds `data` to `hash` a 64-byte block at a time, keeping a partial block in `buffer`.
template <class BlockFn>
void feed(const void* data, size_t size, uint8_t* buffer, size_t& buffered, uint64_t& length, BlockFn block) {
  const auto* p = static_cast<const uint8_t*>(data);
  length += size;
  if (buffered) {
    size_t take = size < 64 - buffered ? size : 64 - buffered;
    std::memcpy(buffer + buffered, p, take);
    buffered += take;
    p += take;
    size -= take;
    if (buffered < 64) return;
    block(buffer);
    buffered = 0;
  }
  for (; size >= 64; p += 64, size -= 64) block(p);
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

Sha256::Sha256()
    : h_{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19} {}

void Sha256::block(const uint8_t* p) {
  uint32_t w[64];
  for (int t = 0; t < 16; ++t) w[t] = load_be32(p + 4 * t);
  for (int t = 16; t < 64; ++t) {
    uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
    uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
    w[t] = w[t - 16] + s0 + w[t - 7] + s1;
  }
  uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4], f = h_[5], g = h_[6], h = h_[7];
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
  h_[0] += a, h_[1] += b, h_[2] += c, h_[3] += d, h_[4] += e, h_[5] += f, h_[6] += g, h_[7] += h;
}

void Sha256::update(const void* data, size_t size) {
  feed(data, size, buffer_, buffered_, length_, [this](const uint8_t* p) { block(p); });
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
  feed(data, size, buffer_, buffered_, length_, [this](const uint8_t* p) { block(p); });
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
