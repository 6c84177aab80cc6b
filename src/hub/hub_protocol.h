// What the Hub's answers mean (learned from huggingface_hub's file_download.py and hf_api.py; the
// routes are the Hub's):
//   GET  {endpoint}/api/models/{org}/{name}/revision/{revision}  -> {"sha": commit, "siblings": [{"rfilename"}]}
//   HEAD {endpoint}/{org}/{name}/resolve/{revision}/{file}       -> the file's metadata in headers:
//        X-Repo-Commit  the commit the revision names
//        ETag           the file's git blob id (files kept in git) — or, for large (LFS) files, answered with a
//        X-Linked-Etag  302 redirect to a storage URL, their SHA-256, and X-Linked-Size their size
//        Location       where to GET the bytes (signed: no token goes there when it is another host)
// The ETag names the file in the cache (blobs/<etag>) and says how to check it (hub/digest.h).
// Everything here parses untrusted text: sizes, names and shas are validated before they reach a path.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hub/http_client.h"

namespace mb::hub {

std::string api_revision_url(const std::string& endpoint, const std::string& repo, const std::string& revision);
std::string resolve_url(const std::string& endpoint, const std::string& repo, const std::string& revision,
                        const std::string& file);

struct FileMetadata {
  std::string commit;    // X-Repo-Commit
  std::string etag;      // normalised: no W/ prefix, no quotes; safe as a file name
  uint64_t size = 0;     // of the file itself (X-Linked-Size for LFS files)
  std::string location;  // where the bytes are
};

// From a HEAD answer (2xx, or the 3xx of an LFS file). `request_url` is the URL the HEAD went to; `what`
// names the file in errors.
FileMetadata parse_file_metadata(const HttpResponse& head, const std::string& request_url, const std::string& what);

// The first byte of a Content-Range answer ("bytes 100-199/200" -> 100); nullopt when unreadable.
std::optional<uint64_t> content_range_start(std::string_view value);

// `W/"abc"` -> `abc`.
std::string normalize_etag(std::string_view etag);
// An etag that can name a file in blobs/: 1-128 of [A-Za-z0-9_-] (no dots, no slashes).
bool valid_blob_name(const std::string& etag);

// The repository listing of the revision route: the commit and the files it holds.
struct RepoListing {
  std::string commit;
  std::vector<std::string> files;  // every "rfilename" that is a valid relative path, in order
};
RepoListing parse_repo_listing(std::string_view json_text, const std::string& source);

}  // namespace mb::hub
