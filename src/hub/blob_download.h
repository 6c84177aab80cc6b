// One file's bytes into the cache: blobs/<etag>.incomplete, resumed with a Range request where an earlier
// attempt (or an earlier run) stopped, checked against the etag's digest and the announced size, fsynced,
// then renamed to blobs/<etag>. A blob that fails its check is deleted, never renamed: nothing in the
// cache looks complete unless it is.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include "core/log.h"
#include "hub/cache_layout.h"
#include "hub/hub_id.h"
#include "hub/hub_protocol.h"
#include "hub/hub_settings.h"

namespace mb::hub {

// Bytes received across parallel downloads, reported to one progress callback (called under a mutex, so
// it sees one thread at a time). Once the callback asks to stop, every download stops.
class TransferProgress {
 public:
  TransferProgress(ProgressFn fn, std::string stage, uint64_t total);
  bool add(int64_t bytes);  // false: cancelled
  void finish();
  void abort() { cancelled_ = true; }  // another download failed: the others stop (and keep what they have)
  bool cancelled() const { return cancelled_; }

 private:
  ProgressFn fn_;
  std::string stage_;
  uint64_t total_;
  std::atomic<int64_t> done_{0};
  std::atomic<bool> cancelled_{false};
  bool reported_all_ = false;  // the callback saw done == total (progress bars end their line there)
  std::mutex mutex_;
};

// Makes blobs/<meta.etag> hold the file. `auth_header` ("Authorization: Bearer ...", or "") is sent only
// when meta.location is on the endpoint's own host. `what` names the file in errors; `id` the model in
// the errors of refusals (an expired storage URL, a gated file).
void fetch_blob(const RepoCache& cache, const FileMetadata& meta, const std::string& what,
                const std::string& auth_header, const HubSettings& settings, TransferProgress& progress,
                const HubId& id);

}  // namespace mb::hub
