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
#include "core/virtual_files.h"

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
const uint8_t kEmptyFile = 0;  // what an empty file's data() points at
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
  if (auto v = find_virtual(path); v && !v->relative.empty()) return v->tree->open(v->relative, path);
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
    f->data_ = &kEmptyFile;
  }
  if (f->fd_ < 0) ::close(fd);
  return f;
}

std::shared_ptr<MappedFile> MappedFile::from_image(const std::string& path, std::shared_ptr<LazyImage> image) {
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->path_ = path;
  f->size_ = image->size();
  f->data_ = f->size_ ? image->data() : &kEmptyFile;
  f->image_ = std::move(image);
  return f;
}

MappedFile::~MappedFile() {
  if (image_) return;  // the image owns its memory
  if (fd_ >= 0) {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_mappings.erase(reinterpret_cast<uintptr_t>(data_));
    ::close(fd_);
  }
  if (size_ > 0) munmap(const_cast<uint8_t*>(data_), size_);
}

void MappedFile::drop_pages() const {
  if (image_) image_->release_unpinned();
  else if (size_ > 0) madvise(const_cast<uint8_t*>(data_), size_, MADV_DONTNEED);
}

std::shared_ptr<const void> MappedFile::pin(size_t offset, size_t length) const {
  if (!image_ || length == 0) return nullptr;
  return image_->pin(offset, length);
}

void MappedFile::will_need(size_t offset, size_t length) const {
  if (image_ || size_ == 0 || offset >= size_) return;
  const size_t page = 4096;
  size_t start = offset / page * page;
  size_t end = std::min(size_, offset + length);
  madvise(const_cast<uint8_t*>(data_) + start, end - start, MADV_WILLNEED);
}

}  // namespace mb
