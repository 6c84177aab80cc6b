#include "hub/blob_download.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/paths.h"
#include "hub/digest.h"
#include "hub/hub_errors.h"
#include "hub/http_client.h"

namespace mb::hub {

TransferProgress::TransferProgress(ProgressFn fn, std::string stage, uint64_t total)
    : fn_(std::move(fn)), stage_(std::move(stage)), total_(total) {}

bool TransferProgress::add(int64_t bytes) {
  if (cancelled_) return false;
  int64_t done = done_ += bytes;
  if (!fn_) return true;
  std::lock_guard<std::mutex> lock(mutex_);
  uint64_t shown = done < 0 ? 0 : static_cast<uint64_t>(done);
  if (shown > total_) shown = total_;
  reported_all_ = shown == total_;
  if (!fn_(stage_, shown, total_)) cancelled_ = true;
  return !cancelled_;
}

void TransferProgress::finish() {
  if (!fn_ || cancelled_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (!reported_all_) fn_(stage_, total_, total_);
  reported_all_ = true;
}

namespace {

// The open .incomplete file and the digest of what it holds so far.
class PartialBlob {
 public:
  PartialBlob(const std::string& path, const FileMetadata& meta) : path_(path), meta_(meta), digest_(meta.etag, meta.size) {
    fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd_ < 0) fail(Status::kIo, path, ": cannot open: ", std::strerror(errno));
    struct stat st;
    if (fstat(fd_, &st) != 0) fail(Status::kIo, path, ": cannot stat: ", std::strerror(errno));
    size_ = static_cast<uint64_t>(st.st_size);
    if (size_ > meta.size) restart();  // longer than the file can be: not a prefix of it
    hash_existing();
  }
  ~PartialBlob() {
    if (fd_ >= 0) close(fd_);
  }

  uint64_t size() const { return size_; }

  void append(const char* data, size_t n) {
    if (size_ + n > meta_.size) fail(Status::kFormat, path_, ": the server sent more than the ", meta_.size, " bytes announced");
    size_t written = 0;
    while (written < n) {
      ssize_t w = pwrite(fd_, data + written, n - written, static_cast<off_t>(size_ + written));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) fail(Status::kIo, path_, ": cannot write: ", std::strerror(errno));
      written += static_cast<size_t>(w);
    }
    digest_.update(data, n);
    size_ += n;
  }

  void restart() {
    if (ftruncate(fd_, 0) != 0) fail(Status::kIo, path_, ": cannot truncate: ", std::strerror(errno));
    size_ = 0;
    digest_ = BlobDigest(meta_.etag, meta_.size);
  }

  std::string finish_digest() { return digest_.finish(); }
  const char* algorithm() const { return digest_.algorithm(); }

  void sync_and_close() {
    if (fsync(fd_) != 0) fail(Status::kIo, path_, ": cannot fsync: ", std::strerror(errno));
    int fd = fd_;
    fd_ = -1;
    if (close(fd) != 0) fail(Status::kIo, path_, ": cannot close: ", std::strerror(errno));
  }

 private:
  void hash_existing() {
    std::vector<char> buf(1u << 20);
    uint64_t at = 0;
    while (at < size_) {
      ssize_t r = pread(fd_, buf.data(), buf.size(), static_cast<off_t>(at));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) fail(Status::kIo, path_, ": cannot read: ", std::strerror(errno));
      digest_.update(buf.data(), static_cast<size_t>(r));
      at += static_cast<uint64_t>(r);
    }
  }

  std::string path_;
  FileMetadata meta_;
  BlobDigest digest_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

// Streams the rest of the file into `part`; returns normally when the request ended (complete or not),
// throws on answers that are not worth another attempt.
void transfer_once(PartialBlob& part, const FileMetadata& meta, const std::string& what, const std::string& auth,
                   const HubSettings& settings, TransferProgress& progress, const HubId& id) {
  HttpRequest request;
  request.url = meta.location;
  if (!auth.empty() && url_origin(meta.location) == url_origin(settings.endpoint)) request.headers.push_back(auth);
  request.follow_redirects = true;  // a storage URL may redirect again; libcurl sends no token to other hosts
  request.range_from = part.size();
  request.connect_timeout_s = settings.metadata_timeout_s;
  request.stall_timeout_s = settings.stall_timeout_s;
  const uint64_t asked_from = part.size();

  BodySink sink;
  sink.start = [&](const HttpResponse& head) {
    if (asked_from == 0) return;
    if (head.status == 200) {  // the server ignored the range and sends everything: start over
      progress.add(-static_cast<int64_t>(part.size()));
      part.restart();
      return;
    }
    auto start = content_range_start(head.header("content-range").value_or(""));
    if (!start || *start != asked_from)
      fail(Status::kFormat, what, ": asked for the bytes from ", asked_from, ", the server sent Content-Range '",
           head.header("content-range").value_or(""), "'");
  };
  sink.write = [&](const char* data, size_t n) {
    part.append(data, n);
    return progress.add(static_cast<int64_t>(n));
  };
  HttpResponse r = http_request(request, &sink);
  if (r.status >= 200 && r.status < 300) return;
  if (r.status == 416 && asked_from > 0) {  // the range is past the server's end: the partial file is stale
    progress.add(-static_cast<int64_t>(part.size()));
    part.restart();
    return;
  }
  if (is_transient_status(r.status)) fail(Status::kNetwork, what, ": the server answered HTTP ", r.status);
  fail_http(r, id, what, settings);
}

}  // namespace

void fetch_blob(const RepoCache& cache, const FileMetadata& meta, const std::string& what, const std::string& auth,
                const HubSettings& settings, TransferProgress& progress, const HubId& id) {
  FileLock lock(cache.lock_file(meta.etag));
  const std::string blob = cache.blob(meta.etag);
  if (is_regular_file(blob)) {  // another process finished it while we waited for the lock
    progress.add(static_cast<int64_t>(meta.size));
    return;
  }
  make_directories(parent_path(blob));
  const std::string incomplete = blob + ".incomplete";
  PartialBlob part(incomplete, meta);
  const bool resumed = part.size() > 0;
  if (resumed) progress.add(static_cast<int64_t>(part.size()));

  bool retried_from_scratch = false;
  while (true) {
    int failures = 0;
    double pause = settings.retry_pause_s;
    while (part.size() < meta.size || meta.size == 0) {
      const uint64_t before = part.size();
      try {
        transfer_once(part, meta, what, auth, settings, progress, id);
        if (meta.size == 0) break;
        if (part.size() == before) fail(Status::kNetwork, what, ": the server ended the answer without sending bytes");
      } catch (const Error& e) {
        if (e.status() != Status::kNetwork) throw;
        if (part.size() > before) failures = 0, pause = settings.retry_pause_s;  // progress: keep going
        if (++failures > settings.retries)
          fail(Status::kNetwork, e.message(), " (", part.size(), " of ", meta.size, " bytes received, kept in ",
               incomplete, "; run again to resume)");
        log_warning(cat(e.message(), "; resuming at byte ", part.size(), " in ", pause, "s"));
        std::this_thread::sleep_for(std::chrono::duration<double>(pause));
        pause *= 2;
      }
    }
    const std::string actual = part.finish_digest();
    if (actual.empty() || actual == meta.etag) break;
    if (resumed && !retried_from_scratch) {  // the bytes an earlier run left may be the bad ones
      log_warning(cat(what, ": the resumed download does not match its ", part.algorithm(),
                      "; downloading it again from the start"));
      progress.add(-static_cast<int64_t>(part.size()));
      part.restart();
      retried_from_scratch = true;
      continue;
    }
    const char* algorithm = part.algorithm();
    unlink(incomplete.c_str());
    fail(Status::kFormat, what, ": the downloaded bytes are not the file the Hub named: their ", algorithm, " is ",
         actual, ", expected ", meta.etag, " (from ", meta.location, "). Nothing was kept in the cache.");
  }
  part.sync_and_close();
  rename_path(incomplete, blob);
}

}  // namespace mb::hub
