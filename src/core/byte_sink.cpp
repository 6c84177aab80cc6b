#include "core/byte_sink.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "core/error.h"
#include "core/mapped_file.h"

namespace mb {

void ByteSink::write_zeros(size_t n) {
  static const uint8_t kZeros[256] = {};
  while (n > 0) {
    size_t k = n < sizeof(kZeros) ? n : sizeof(kZeros);
    write(kZeros, k);
    n -= k;
  }
}

// ---- MemorySink -----------------------------------------------------------------------------------

void MemorySink::write(const void* data, size_t n) {
  if (n == 0) return;
  const auto* p = static_cast<const uint8_t*>(data);
  buffer_.insert(buffer_.end(), p, p + n);
}

void MemorySink::patch(uint64_t at, const void* data, size_t n) {
  if (at > buffer_.size() || n > buffer_.size() - at) fail(Status::kInternal, "patch beyond the written bytes");
  std::memcpy(buffer_.data() + at, data, n);
}

// ---- OutputFile -----------------------------------------------------------------------------------

namespace {
constexpr size_t kBufferSize = 4 << 20;
std::atomic<uint64_t> g_temp_counter{0};

void pwrite_all(int fd, const void* data, size_t n, uint64_t at, const std::string& path) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    ssize_t k = ::pwrite(fd, p, n, static_cast<off_t>(at));
    if (k < 0) {
      if (errno == EINTR) continue;
      fail(Status::kIo, path, ": write failed: ", std::strerror(errno));
    }
    p += k;
    n -= static_cast<size_t>(k);
    at += static_cast<uint64_t>(k);
  }
}

// Cleared the first time the kernel refuses copy_file_range for a reason that will not change (another
// filesystem, an old kernel), so later writes do not try again.
std::atomic<bool> g_copy_range_works{true};

// Bytes that are a view of a mapped input file go file to file inside the kernel, as cp does: no page
// faults on the mapping, no copy through user memory. Whatever the kernel does not copy is written from
// memory, so the result is the same bytes either way.
void write_piece(int fd, const uint8_t* p, size_t n, uint64_t at, MappedRange src, const std::string& path) {
  if (src.fd >= 0 && g_copy_range_works.load(std::memory_order_relaxed)) {
    auto src_off = static_cast<off_t>(src.offset);
    auto dst_off = static_cast<off_t>(at);
    while (n > 0) {
      ssize_t k = ::copy_file_range(src.fd, &src_off, fd, &dst_off, n, 0);
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) {
        if (k < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP || errno == EBADF))
          g_copy_range_works = false;
        break;
      }
      p += k;
      at += static_cast<uint64_t>(k);
      n -= static_cast<size_t>(k);
    }
  }
  pwrite_all(fd, p, n, at, path);
}

// Large writes go out from one thread: ext4 (like most filesystems) holds the file's inode lock for the
// whole of a buffered write, so writes to one file from several threads only queue and spin on that lock
// (measured: 3x the system time, same wall time; docs/performance.md).
void write_large(int fd, const void* data, size_t n, uint64_t at, const std::string& path) {
  write_piece(fd, static_cast<const uint8_t*>(data), n, at, find_mapped_range(data, n), path);
}
}  // namespace

OutputFile::OutputFile(std::string path) : path_(std::move(path)) {
  temp_path_ = cat(path_, ".tmp-", ::getpid(), "-", g_temp_counter++);
  fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) fail(Status::kIo, path_, ": cannot create: ", std::strerror(errno));
  buffer_.reserve(kBufferSize);
}

OutputFile::~OutputFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temp_path_.c_str());
}

void OutputFile::flush_buffer() {
  if (buffer_.empty()) return;
  pwrite_all(fd_, buffer_.data(), buffer_.size(), buffer_start_, path_);
  buffer_start_ += buffer_.size();
  buffer_.clear();
}

void OutputFile::write(const void* data, size_t n) {
  if (n == 0) return;
  if (buffer_.size() + n > kBufferSize) flush_buffer();
  if (n >= kBufferSize) {
    write_large(fd_, data, n, buffer_start_, path_);
    buffer_start_ += n;
  } else {
    const auto* p = static_cast<const uint8_t*>(data);
    buffer_.insert(buffer_.end(), p, p + n);
  }
  position_ += n;
}

void OutputFile::patch(uint64_t at, const void* data, size_t n) {
  if (at + n > position_) fail(Status::kInternal, "patch beyond the written bytes of ", path_);
  if (at >= buffer_start_) {
    std::memcpy(buffer_.data() + (at - buffer_start_), data, n);
    return;
  }
  flush_buffer();
  pwrite_all(fd_, data, n, at, path_);
}

void OutputFile::pwrite_at(uint64_t at, const void* data, size_t n) {
  flush_buffer();
  write_large(fd_, data, n, at, path_);
  if (at + n > position_) position_ = at + n;
  buffer_start_ = position_;
}

void OutputFile::commit(bool fsync_data) {
  if (committed_) return;
  flush_buffer();
  if (ftruncate(fd_, static_cast<off_t>(position_)) != 0)
    fail(Status::kIo, path_, ": cannot set its size: ", std::strerror(errno));
  if (fsync_data && ::fsync(fd_) != 0) fail(Status::kIo, path_, ": fsync failed: ", std::strerror(errno));
  if (::close(fd_) != 0) {
    fd_ = -1;
    fail(Status::kIo, path_, ": close failed: ", std::strerror(errno));
  }
  fd_ = -1;
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0)
    fail(Status::kIo, path_, ": cannot rename the finished file into place: ", std::strerror(errno));
  committed_ = true;
}

void write_file_atomic(const std::string& path, const std::string& contents) {
  OutputFile f(path);
  f.write_string(contents);
  f.commit();
}

}  // namespace mb
