#include "core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>

#include "core/error.h"

namespace mb {

namespace {
// Live mappings that kept their descriptor, by base address. The number of descriptors kept is bounded so
// that a checkpoint of thousands of files does not run the process out of them (the rest close at once
// and their bytes are written the ordinary way).
constexpr size_t kMaxKeptDescriptors = 256;
struct Registered {
  size_t size;
  int fd;
};
std::mutex g_mutex;
std::map<uintptr_t, Registered> g_mappings;
}  // namespace

MappedRange find_mapped_range(const void* data, size_t n) {
  const auto p = reinterpret_cast<uintptr_t>(data);
  std::lock_guard<std::mutex> lock(g_mutex);
  auto it = g_mappings.upper_bound(p);
  if (it == g_mappings.begin()) return {};
  --it;
  const uintptr_t base = it->first;
  if (p - base > it->second.size || n > it->second.size - (p - base)) return {};
  return {it->second.fd, static_cast<uint64_t>(p - base)};
}

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
    std::lock_guard<std::mutex> lock(g_mutex);
    if (g_mappings.size() < kMaxKeptDescriptors) {
      g_mappings[reinterpret_cast<uintptr_t>(p)] = {f->size_, fd};
      f->fd_ = fd;
    }
  } else {
    static const uint8_t kEmpty = 0;
    f->data_ = &kEmpty;
  }
  if (f->fd_ < 0) ::close(fd);
  return f;
}

MappedFile::~MappedFile() {
  if (fd_ >= 0) {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_mappings.erase(reinterpret_cast<uintptr_t>(data_));
    ::close(fd_);
  }
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
