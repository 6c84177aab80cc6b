#include "hub/cache_layout.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "core/error.h"
#include "core/paths.h"
#include "hub/hub_id.h"

namespace mb::hub {

namespace {

// A name no other writer uses at the same time: pid plus a per-process counter.
std::string temp_name(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  return cat(path, ".", getpid(), "-", counter++, ".tmp");
}

std::string relative_blob_target(const std::string& file, const std::string& etag) {
  std::string up = "../../";
  for (char c : file)
    if (c == '/') up += "../";
  return up + "blobs/" + etag;
}

}  // namespace

RepoCache::RepoCache(const std::string& cache_dir, const std::string& repo)
    : cache_dir_(cache_dir), folder_(join_path(cache_dir, repo_folder_name(repo))) {}

std::string RepoCache::blob(const std::string& etag) const { return join_path(folder_, "blobs/" + etag); }
std::string RepoCache::snapshot(const std::string& commit) const { return join_path(folder_, "snapshots/" + commit); }
std::string RepoCache::pointer(const std::string& commit, const std::string& file) const {
  return join_path(snapshot(commit), file);
}
std::string RepoCache::lock_file(const std::string& etag) const {
  return join_path(cache_dir_, ".locks/" + file_name(folder_) + "/" + etag + ".lock");
}

std::optional<std::string> RepoCache::commit_for(const std::string& revision) const {
  if (is_commit_sha(revision)) return revision;
  const std::string ref = join_path(folder_, "refs/" + revision);
  if (!is_regular_file(ref)) return std::nullopt;
  std::string text;
  try {
    text = read_text_file(ref, 4096);
  } catch (const Error&) {
    return std::nullopt;
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  if (!is_commit_sha(text)) return std::nullopt;  // damaged: as if absent
  return text;
}

void RepoCache::write_ref(const std::string& revision, const std::string& commit) const {
  if (revision == commit) return;
  if (commit_for(revision) == commit) return;  // unchanged: the cache may be read-only
  const std::string ref = join_path(folder_, "refs/" + revision);
  make_directories(parent_path(ref));
  const std::string tmp = temp_name(ref);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << commit;
    if (!out.flush()) fail(Status::kIo, tmp, ": cannot write");
  }
  rename_path(tmp, ref);
}

bool RepoCache::has_file(const std::string& commit, const std::string& file) const {
  return is_regular_file(pointer(commit, file));  // follows the symlink: its blob must be there
}

bool RepoCache::has_blob(const std::string& etag) const { return is_regular_file(blob(etag)); }

void RepoCache::link(const std::string& commit, const std::string& file, const std::string& etag) const {
  const std::string path = pointer(commit, file);
  const std::string target = relative_blob_target(file, etag);
  char current[4096];
  ssize_t n = readlink(path.c_str(), current, sizeof(current));
  if (n >= 0 && std::string(current, static_cast<size_t>(n)) == target) return;
  make_directories(parent_path(path));
  const std::string tmp = temp_name(path);
  if (symlink(target.c_str(), tmp.c_str()) != 0)
    fail(Status::kIo, tmp, ": cannot create a symbolic link: ", std::strerror(errno));
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    unlink(tmp.c_str());
    fail(Status::kIo, path, ": cannot put the link in place: ", std::strerror(e));
  }
}

bool RepoCache::known_missing(const std::string& commit, const std::string& file) const {
  return is_regular_file(join_path(folder_, ".no_exist/" + commit + "/" + file));
}

void RepoCache::mark_missing(const std::string& commit, const std::string& file) const {
  const std::string path = join_path(folder_, ".no_exist/" + commit + "/" + file);
  if (path_exists(path)) return;
  make_directories(parent_path(path));
  std::ofstream touch(path, std::ios::binary | std::ios::app);
}

void tag_cache_dir(const std::string& cache_dir) {
  const std::string path = join_path(cache_dir, "CACHEDIR.TAG");
  if (path_exists(path)) return;
  std::ofstream out(path, std::ios::binary);
  out << "Signature: 8a477f597d28d172789f06886806bc55\n"
         "# This file is a cache directory tag: the Hugging Face Hub cache, written by mbridge.\n"
         "# For information about cache directory tags, see:\n"
         "#\thttps://bford.info/cachedir/\n";
}

FileLock::FileLock(const std::string& path) {
  make_directories(parent_path(path));
  fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) fail(Status::kIo, path, ": cannot open the lock file: ", std::strerror(errno));
  while (flock(fd_, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    int e = errno;
    close(fd_);
    fd_ = -1;
    fail(Status::kIo, path, ": cannot lock: ", std::strerror(e));
  }
}

FileLock::~FileLock() {
  if (fd_ >= 0) close(fd_);  // closing releases the lock
}

}  // namespace mb::hub
