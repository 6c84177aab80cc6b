#include "core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace mb {

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    Status st = errno == ENOENT ? Status::kNotFound : Status::kIo;
    fail(st, path, ": cannot open: ", std::strerror(errno));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    fail(Status::kIo, path, ": cannot stat: ", std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(Status::kIo, path, ": not a regular file");
  }
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->path_ = path;
  f->size_ = static_cast<size_t>(st.st_size);
  if (f->size_ > 0) {
    void* p = mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      fail(Status::kIo, path, ": cannot map ", f->size_, " bytes: ", std::strerror(e));
    }
    f->data_ = static_cast<const uint8_t*>(p);
  } else {
    static const uint8_t kEmpty = 0;
    f->data_ = &kEmpty;
  }
  ::close(fd);
  return f;
}

MappedFile::~MappedFile() {
  if (size_ > 0) munmap(const_cast<uint8_t*>(data_), size_);
}

void MappedFile::drop_pages() const {
  if (size_ > 0) madvise(const_cast<uint8_t*>(data_), size_, MADV_DONTNEED);
}

void MappedFile::will_need(size_t offset, size_t length) const {
  if (size_ == 0 || offset >= size_) return;
  const size_t page = 4096;
  size_t start = offset / page * page;
  size_t end = std::min(size_, offset + length);
  madvise(const_cast<uint8_t*>(data_) + start, end - start, MADV_WILLNEED);
}

}  // namespace mb
