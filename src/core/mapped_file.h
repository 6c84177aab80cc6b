// Read-only memory mapping of a whole file: the zero-copy source for every reader. Tensors that borrow
// from it hold a shared_ptr to it, so the mapping lives as long as any view of it. A path inside a
// mounted bundle (core/virtual_files.h) opens the bundle's image of that file instead: the same bytes,
// with tensor regions produced on demand (core/lazy_image.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/lazy_image.h"

namespace mb {

// A range of bytes inside something that outlives the view.
struct ByteView {
  const uint8_t* data = nullptr;
  size_t size = 0;
  ByteView sub(size_t offset, size_t length) const { return {data + offset, length}; }
  bool contains(uint64_t offset, uint64_t length) const { return offset <= size && length <= size - offset; }
};

// Where a pointer range comes from when it lies inside one live MappedFile: its open descriptor and the file
// offset. A writer given such bytes can ask the kernel to copy file to file (copy_file_range, what cp does)
// instead of faulting the pages in and copying them through user memory.
struct MappedRange {
  int fd = -1;  // -1: not inside a mapping that kept its descriptor
  uint64_t offset = 0;
};
MappedRange find_mapped_range(const void* data, size_t n);

class MappedFile {
 public:
  static std::shared_ptr<MappedFile> open(const std::string& path);
  // A file whose bytes come from a lazy image (a file inside a bundle), shown under `path`.
  static std::shared_ptr<MappedFile> from_image(const std::string& path, std::shared_ptr<LazyImage> image);
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
  // large file does not keep it all resident. Views into the file stay valid: pages come back on access
  // (for an image, the regions no view pins are forgotten and produced again when pinned).
  void drop_pages() const;
  // pin_bytes() for a range of this file: null for an ordinary file.
  std::shared_ptr<const void> pin(size_t offset, size_t length) const;
  const std::shared_ptr<LazyImage>& image() const { return image_; }  // null for an ordinary file

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  int fd_ = -1;  // kept open (up to a limit) for find_mapped_range
  std::shared_ptr<LazyImage> image_;  // set for a file inside a bundle; then nothing here is mapped
};

}  // namespace mb
