// Where writers put bytes: a growing memory buffer, or a file written under a temporary name that is
// renamed into place only by commit() (a writer that fails or is cancelled leaves nothing behind).
// Both allow patching bytes already written (zip headers whose sizes are known only afterwards).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mb {

class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual void write(const void* data, size_t n) = 0;
  virtual uint64_t position() const = 0;
  // Overwrites n bytes at an absolute position below position().
  virtual void patch(uint64_t at, const void* data, size_t n) = 0;

  void write_zeros(size_t n);
  void write_string(const std::string& s) { write(s.data(), s.size()); }
};

class MemorySink : public ByteSink {
 public:
  void write(const void* data, size_t n) override;
  uint64_t position() const override { return buffer_.size(); }
  void patch(uint64_t at, const void* data, size_t n) override;
  const std::vector<uint8_t>& bytes() const { return buffer_; }
  std::vector<uint8_t>& bytes() { return buffer_; }

 private:
  std::vector<uint8_t> buffer_;
};

class OutputFile : public ByteSink {
 public:
  // Creates `<path>.tmp-<pid>-<n>` in the same directory; the final name appears at commit().
  explicit OutputFile(std::string path);
  ~OutputFile() override;  // removes the temporary file unless committed
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  void write(const void* data, size_t n) override;
  uint64_t position() const override { return position_; }
  void patch(uint64_t at, const void* data, size_t n) override;
  // Writes n bytes at an absolute offset (may be beyond position(), growing the file); for writers
  // that lay out data up front and fill it in any order.
  void pwrite_at(uint64_t at, const void* data, size_t n);
  void commit(bool fsync_data = true);
  const std::string& path() const { return path_; }

 private:
  void flush_buffer();
  std::string path_;
  std::string temp_path_;
  int fd_ = -1;
  uint64_t position_ = 0;
  std::vector<uint8_t> buffer_;
  uint64_t buffer_start_ = 0;
  bool committed_ = false;
};

// Writes a small file atomically (temp + rename).
void write_file_atomic(const std::string& path, const std::string& contents);

}  // namespace mb
