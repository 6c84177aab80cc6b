// The Hugging Face cache, as huggingface_hub lays it out (so a model downloaded by Python tools is found
// here, and one downloaded here is found by them):
//   <cache>/models--org--name/
//     refs/<revision>              the commit sha a branch or tag named when last asked (no newline)
//     blobs/<etag>                 each file's bytes, named by the Hub's ETag (git blob id, or SHA-256)
//     blobs/<etag>.incomplete      a download in progress; a later download resumes it
//     snapshots/<commit>/<file>    relative symlink -> ../../blobs/<etag> (one more ../ per folder level)
//     .no_exist/<commit>/<file>    empty: the Hub said the file does not exist at that commit
//   <cache>/.locks/models--org--name/<etag>.lock   held (flock) while a blob downloads
#pragma once

#include <optional>
#include <string>

namespace mb::hub {

class RepoCache {
 public:
  RepoCache(const std::string& cache_dir, const std::string& repo);

  const std::string& cache_dir() const { return cache_dir_; }
  const std::string& folder() const { return folder_; }
  std::string blob(const std::string& etag) const;
  std::string snapshot(const std::string& commit) const;
  std::string pointer(const std::string& commit, const std::string& file) const;
  std::string lock_file(const std::string& etag) const;

  // The commit `revision` names here: itself when it is a sha, else refs/<revision> when that holds a sha.
  std::optional<std::string> commit_for(const std::string& revision) const;
  // Records revision -> commit in refs/ (atomically, only when it changed); nothing for a sha revision.
  void write_ref(const std::string& revision, const std::string& commit) const;

  // snapshots/<commit>/<file> leads to a regular file.
  bool has_file(const std::string& commit, const std::string& file) const;
  bool has_blob(const std::string& etag) const;
  // Points snapshots/<commit>/<file> at blobs/<etag> (replacing what was there, atomically).
  void link(const std::string& commit, const std::string& file, const std::string& etag) const;

  bool known_missing(const std::string& commit, const std::string& file) const;
  void mark_missing(const std::string& commit, const std::string& file) const;

 private:
  std::string cache_dir_;
  std::string folder_;
};

// The CACHEDIR.TAG of the Cache Directory Tagging Specification, so backup tools skip the cache (current
// huggingface_hub writes one too); written once, failures ignored.
void tag_cache_dir(const std::string& cache_dir);

// An exclusive flock(2) on a lock file, as huggingface_hub's filelock takes it: two downloads of one blob,
// ours or Python's, never write it at the same time.
class FileLock {
 public:
  explicit FileLock(const std::string& path);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace mb::hub
