// SHA-256 and SHA-1 (FIPS 180-4), streamed: how a downloaded blob is checked against the name the Hub gave
// it. Large (LFS) files are named by the SHA-256 of their bytes; files kept in git by their git blob id,
// the SHA-1 of "blob <size>\0" followed by the bytes (what `git hash-object` prints).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace mb::hub {

class Sha256 {
 public:
  // `use_hardware`: the x86 SHA extensions when the processor has them (several times faster; the result is
  // the same, which the tests check against the portable code).
  explicit Sha256(bool use_hardware = true);
  void update(const void* data, size_t size);
  std::string hex_digest();  // finishes the hash; the object must not be updated afterwards
  static bool hardware_available();

 private:
  void blocks(const uint8_t* p, size_t count);
  bool hardware_;
  uint32_t h_[8];
  uint8_t buffer_[64];
  size_t buffered_ = 0;
  uint64_t length_ = 0;
};

class Sha1 {
 public:
  Sha1();
  void update(const void* data, size_t size);
  std::string hex_digest();

 private:
  void block(const uint8_t* p);
  uint32_t h_[5];
  uint8_t buffer_[64];
  size_t buffered_ = 0;
  uint64_t length_ = 0;
};

// The hash the Hub's name for a file promises, computed while the file streams in: SHA-256 for a 64-digit
// name, the git blob id for a 40-digit one; any other name promises nothing but the size.
class BlobDigest {
 public:
  enum class Kind { kSha256, kGitSha1, kNone };
  BlobDigest(const std::string& etag, uint64_t size);
  static Kind kind_of(const std::string& etag);
  Kind kind() const { return kind_; }
  void update(const void* data, size_t size);
  // The digest of everything fed so far, lower-case hex ("" for kNone); call once, at the end.
  std::string finish();
  const char* algorithm() const;  // "sha256", "git-sha1" or "none"

 private:
  Kind kind_;
  Sha256 sha256_;
  Sha1 sha1_;
};

}  // namespace mb::hub
