#include "hub/snapshot.h"

#include <algorithm>
#include <map>
#include <set>

#include "core/error.h"
#include "core/paths.h"
#include "core/threads.h"
#include "hub/blob_download.h"
#include "hub/cache_layout.h"
#include "hub/hub_requests.h"
#include "io/safetensors_sharded.h"

namespace mb::hub {

namespace {

const char* const kConfig = "config.json";
const char* const kTokenizerJson = "tokenizer.json";

// The files conversions carry along (bridge/hf_source.cpp copies the same ones).
const std::vector<std::string>& asset_names() {
  static const std::vector<std::string> names = {
      "generation_config.json", "tokenizer.json",     "tokenizer_config.json", "special_tokens_map.json",
      "tokenizer.model",        "vocab.json",         "merges.txt",            "added_tokens.json",
      "chat_template.jinja",    "chat_template.json", "preprocessor_config.json", "processor_config.json"};
  return names;
}

const char* required_file(Need need) { return need == Need::kTokenizer ? kTokenizerJson : kConfig; }

void add_once(std::vector<std::string>& list, const std::string& name) {
  if (std::find(list.begin(), list.end(), name) == list.end()) list.push_back(name);
}

std::string human_bytes(uint64_t n) {
  if (n >= 1000000000ull) return cat(static_cast<double>(n / 10000000ull) / 100, " GB");
  if (n >= 1000000ull) return cat(static_cast<double>(n / 10000ull) / 100, " MB");
  return cat(static_cast<double>(n / 10ull) / 100, " kB");
}

// The needed files of `commit` judged from the cache alone (offline, or a sha already downloaded).
// Returns what is missing; `present` gets the needed files that are there.
std::vector<std::string> missing_from_cache(const RepoCache& cache, const std::string& commit, Need need,
                                            std::vector<std::string>& present) {
  std::vector<std::string> missing;
  auto want = [&](const std::string& f) { (cache.has_file(commit, f) ? present : missing).push_back(f); };
  want(required_file(need));
  if (need == Need::kModel) {
    if (cache.has_file(commit, kSafetensorsIndexName)) {
      present.push_back(kSafetensorsIndexName);
      for (const std::string& shard : safetensors_index_shards(cache.pointer(commit, kSafetensorsIndexName)))
        want(shard);
    } else if (cache.has_file(commit, kSafetensorsSingleName)) {
      present.push_back(kSafetensorsSingleName);
    } else {
      missing.push_back(cat(kSafetensorsSingleName, " or ", kSafetensorsIndexName));
    }
  }
  for (const std::string& a : asset_names())
    if (a != required_file(need) && cache.has_file(commit, a)) present.push_back(a);
  return missing;
}

std::optional<Snapshot> complete_in_cache(const RepoCache& cache, const HubId& id, Need need,
                                          std::vector<std::string>* missing_out = nullptr) {
  auto commit = cache.commit_for(id.revision);
  if (!commit) return std::nullopt;
  Snapshot snap;
  snap.commit = *commit;
  snap.path = cache.snapshot(*commit);
  std::vector<std::string> missing = missing_from_cache(cache, *commit, need, snap.files);
  if (missing_out) *missing_out = missing;
  if (!missing.empty()) return std::nullopt;
  return snap;
}

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

[[noreturn]] void fail_offline(const RepoCache& cache, const HubId& id, const std::vector<std::string>& missing) {
  std::string what = cache.commit_for(id.revision)
                         ? cat("its snapshot ", *cache.commit_for(id.revision), " lacks ", join_names(missing))
                         : cat("it does not know revision '", id.revision, "' (no ", cache.folder(), "/refs/",
                               id.revision, ")");
  fail(Status::kNotFound, id.text(), ": HF_HUB_OFFLINE is set, so only the cache is used, and ", what,
       ". Unset HF_HUB_OFFLINE to download it (or run `mbridge download ", id.text(), "` where there is network).");
}

// Downloads `files` of the repository at `revision` into the snapshot of their commit: every HEAD first (so
// a refusal comes before any large transfer), then the blobs not yet in the cache, a few at a time, then
// the links. `expected_commit` ("" for any) must be the commit every HEAD names.
std::string download_files(const HubId& id, const std::string& revision, const RepoCache& cache,
                           const std::vector<std::string>& files, const std::string& expected_commit,
                           const HubSettings& s, const ProgressFn& progress, Snapshot& out) {
  const size_t workers = static_cast<size_t>(std::max(1, s.workers));
  std::vector<FileMetadata> metas(files.size());
  parallel_for(files.size(), workers, [&](size_t i) {
    metas[i] = request_file_metadata(id, revision, files[i], cache, s);
  });
  std::string commit = expected_commit.empty() && !metas.empty() ? metas[0].commit : expected_commit;
  for (size_t i = 0; i < files.size(); ++i)
    if (metas[i].commit != commit)
      fail(Status::kFormat, id.repo, "@", revision, ": ", files[i], " is at commit ", metas[i].commit,
           ", the other files at ", commit, " (the revision moved while downloading? run again)");

  std::map<std::string, const FileMetadata*> blobs;  // each blob once, even when two files share it
  uint64_t total = 0;
  for (const FileMetadata& m : metas)
    if (!cache.has_blob(m.etag) && blobs.emplace(m.etag, &m).second) total += m.size;
  if (!blobs.empty()) {
    tag_cache_dir(cache.cache_dir());
    log_info(cat("downloading ", blobs.size(), " file", blobs.size() == 1 ? "" : "s", " (", human_bytes(total),
                 ") of ", id.repo, "@", revision, " into ", cache.snapshot(commit)));
  }
  std::vector<const FileMetadata*> queue;
  for (const auto& [etag, m] : blobs) queue.push_back(m);
  std::sort(queue.begin(), queue.end(), [](auto* a, auto* b) { return a->size > b->size; });  // big ones first
  TransferProgress transfer(progress, "download " + id.repo, total);
  const std::string auth = auth_header(s);
  parallel_for(queue.size(), workers, [&](size_t k) {
    const FileMetadata& m = *queue[k];
    const std::string name = files[static_cast<size_t>(&m - metas.data())];
    try {
      fetch_blob(cache, m, cat(id.repo, "@", revision, ": ", name), auth, s, transfer, id);
    } catch (...) {
      transfer.abort();
      throw;
    }
  });
  if (transfer.cancelled()) fail(Status::kCancelled, id.text(), ": download cancelled");
  transfer.finish();
  for (size_t i = 0; i < files.size(); ++i) cache.link(commit, files[i], metas[i].etag);
  out.used_network = true;
  out.downloaded_files += static_cast<int>(blobs.size());
  out.downloaded_bytes += total;
  return commit;
}

}  // namespace

Snapshot fetch_snapshot(const HubId& id, Need need, const HubSettings& s, const ProgressFn& progress) {
  RepoCache cache(s.cache_dir, id.repo);
  if (s.offline) {
    std::vector<std::string> missing;
    if (auto snap = complete_in_cache(cache, id, need, &missing)) return *snap;
    fail_offline(cache, id, missing);
  }
  if (is_commit_sha(id.revision))
    if (auto snap = complete_in_cache(cache, id, need)) return *snap;  // a commit never changes: no request

  RepoListing listing;
  try {
    listing = request_listing(id, s);
  } catch (const Error& e) {
    if (e.status() == Status::kCancelled || e.status() == Status::kInvalidArgument) throw;
    if (auto snap = complete_in_cache(cache, id, need)) {
      log_warning(cat(e.message(), "\nusing the cached snapshot ", snap->commit, " of ", id.text()));
      return *snap;
    }
    if (e.status() == Status::kNetwork)
      throw Error(e.status(), cat(id.text(), ": could not ask the Hugging Face Hub at ", s.endpoint,
                                  " (HF_ENDPOINT) and the cache has no complete copy (", cache.folder(), "): ",
                                  e.message(), ". Check the network and proxy settings (https_proxy), or download "
                                  "where there is network and set HF_HUB_OFFLINE=1 here."));
    throw;
  }
  cache.write_ref(id.revision, listing.commit);
  const std::set<std::string> in_repo(listing.files.begin(), listing.files.end());
  Snapshot snap;
  snap.commit = listing.commit;
  snap.path = cache.snapshot(listing.commit);

  const std::string required = required_file(need);
  if (!in_repo.count(required))
    fail(Status::kNotFound, id.text(), ": the repository has no ", required,
         need == Need::kTokenizer ? " (mbridge reads tokenizer.json tokenizers)" : " (not a transformers model?)");
  std::vector<std::string> wanted = {required};
  for (const std::string& a : asset_names())
    if (in_repo.count(a)) add_once(wanted, a);
  if (need == Need::kModel) {
    if (in_repo.count(kSafetensorsIndexName)) {
      if (!cache.has_file(snap.commit, kSafetensorsIndexName))
        download_files(id, snap.commit, cache, {kSafetensorsIndexName}, snap.commit, s, {}, snap);
      add_once(wanted, kSafetensorsIndexName);
      for (const std::string& shard : safetensors_index_shards(cache.pointer(snap.commit, kSafetensorsIndexName))) {
        if (!in_repo.count(shard))
          fail(Status::kFormat, id.text(), ": ", kSafetensorsIndexName, " names the shard ", shard,
               ", which the repository does not hold");
        add_once(wanted, shard);
      }
    } else if (in_repo.count(kSafetensorsSingleName)) {
      add_once(wanted, kSafetensorsSingleName);
    } else {
      fail(Status::kUnsupported, id.text(), ": the repository has no safetensors weights (", kSafetensorsSingleName,
           " or ", kSafetensorsIndexName, "); mbridge reads safetensors only");
    }
  }
  std::vector<std::string> missing;
  for (const std::string& f : wanted)
    if (!cache.has_file(snap.commit, f)) missing.push_back(f);
  if (!missing.empty()) download_files(id, snap.commit, cache, missing, snap.commit, s, progress, snap);
  snap.files = wanted;
  snap.used_network = true;
  return snap;
}

Snapshot fetch_files(const HubId& id, const std::vector<std::string>& files, const HubSettings& s,
                     const ProgressFn& progress) {
  for (const std::string& f : files) check_relative_name(f, id.text(), true);
  RepoCache cache(s.cache_dir, id.repo);
  Snapshot snap;
  auto cached = [&]() -> bool {
    auto commit = cache.commit_for(id.revision);
    if (!commit) return false;
    for (const std::string& f : files)
      if (!cache.has_file(*commit, f)) return false;
    snap.commit = *commit;
    return true;
  };
  if (s.offline) {
    if (!cached()) {
      auto commit = cache.commit_for(id.revision);
      for (const std::string& f : files)
        if (commit && cache.known_missing(*commit, f))
          fail(Status::kNotFound, id.text(), ": ", f, " does not exist at commit ", *commit,
               " (the Hub said so earlier; HF_HUB_OFFLINE is set)");
      std::vector<std::string> missing;
      for (const std::string& f : files)
        if (!commit || !cache.has_file(*commit, f)) missing.push_back(f);
      fail_offline(cache, id, missing);
    }
  } else if (!(is_commit_sha(id.revision) && cached())) {
    snap.commit = download_files(id, id.revision, cache, files, "", s, progress, snap);
    cache.write_ref(id.revision, snap.commit);
  }
  snap.path = cache.snapshot(snap.commit);
  for (const std::string& f : files) snap.files.push_back(cache.pointer(snap.commit, f));
  return snap;
}

}  // namespace mb::hub
