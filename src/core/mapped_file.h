// Read-only memory mapping of a whole file: the zero-copy source for every reader. Tensors that borrow
// from it hold a shared_ptr to it, so the mapping lives as long as any view of it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace mb {

// A range of bytes inside something that outlives the view.
struct ByteView {
  const uint8_t* data = nullptr;
  size_t size = 0;
  ByteView sub(size_t offset, size_t length) const { return {data + offset, length}; }
  bool contains(uint64_t offset, uint64_t length) const { return offset <= size && length <= size - offset; }
};

class MappedFile {
 public:
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  ByteView bytes() const { return {data_, size_}; }
  const std::string& path() const { return path_; }
  // Tell the kernel we will read [offset, offset+length) soon (readahead).
  void will_need(size_t offset, size_t length) const;
  // Drop the pages this mapping holds (they stay in the page cache), so a long streaming pass over a
  // large file does not keep it all resident. Views into the file stay valid: pages come back on access.
  void drop_pages() const;

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace mb
