#include "hub/hub_protocol.h"

#include "core/error.h"
#include "core/paths.h"
#include "hub/hub_id.h"
#include "io/json.h"

namespace mb::hub {

std::string api_revision_url(const std::string& endpoint, const std::string& repo, const std::string& revision) {
  return endpoint + "/api/models/" + repo + "/revision/" + url_encode(revision, false);
}

std::string resolve_url(const std::string& endpoint, const std::string& repo, const std::string& revision,
                        const std::string& file) {
  return endpoint + "/" + repo + "/resolve/" + url_encode(revision, false) + "/" + url_encode(file, true);
}

std::string normalize_etag(std::string_view etag) {
  if (etag.substr(0, 2) == "W/") etag.remove_prefix(2);
  while (!etag.empty() && etag.front() == '"') etag.remove_prefix(1);
  while (!etag.empty() && etag.back() == '"') etag.remove_suffix(1);
  return std::string(etag);
}

bool valid_blob_name(const std::string& etag) {
  if (etag.empty() || etag.size() > 128) return false;
  for (char c : etag)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
      return false;
  return true;
}

namespace {

bool parse_size(const std::string& text, uint64_t& out) {
  if (text.empty() || text.size() > 19) return false;  // 19 digits always fit in 64 bits
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  out = v;
  return true;
}

}  // namespace

std::optional<uint64_t> content_range_start(std::string_view v) {
  if (v.substr(0, 6) != "bytes ") return std::nullopt;
  uint64_t start = 0;
  size_t i = 6, digits = 0;
  for (; i < v.size() && v[i] >= '0' && v[i] <= '9' && digits < 19; ++i, ++digits)
    start = start * 10 + static_cast<uint64_t>(v[i] - '0');
  if (digits == 0 || i >= v.size() || v[i] != '-') return std::nullopt;
  return start;
}

FileMetadata parse_file_metadata(const HttpResponse& head, const std::string& request_url, const std::string& what) {
  FileMetadata m;
  auto commit = head.header("x-repo-commit");
  if (!commit)
    fail(Status::kNetwork, what, ": the answer of ", request_url,
         " has no X-Repo-Commit header: is HF_ENDPOINT a Hugging Face Hub? (a proxy or firewall may be answering)");
  if (!is_commit_sha(*commit)) fail(Status::kFormat, what, ": X-Repo-Commit '", *commit, "' is not a commit sha");
  m.commit = *commit;

  auto etag = head.header("x-linked-etag");
  if (!etag) etag = head.header("etag");
  if (!etag) fail(Status::kFormat, what, ": the Hub sent no ETag, so the file cannot be named or checked");
  m.etag = normalize_etag(*etag);
  if (!valid_blob_name(m.etag)) fail(Status::kFormat, what, ": ETag '", *etag, "' cannot name a file in the cache");

  auto size = head.header("x-linked-size");
  if (!size && !head.is_redirect()) size = head.header("content-length");
  if (!size) fail(Status::kFormat, what, ": the Hub sent no size (X-Linked-Size or Content-Length)");
  if (!parse_size(*size, m.size)) fail(Status::kFormat, what, ": size '", *size, "' is not a number of bytes");

  auto location = head.is_redirect() ? head.header("location") : std::nullopt;
  m.location = location ? resolve_location(request_url, *location) : request_url;
  if (m.location.rfind("http://", 0) != 0 && m.location.rfind("https://", 0) != 0)
    fail(Status::kFormat, what, ": the Hub redirects to '", m.location, "', which is not an http(s) URL");
  return m;
}

RepoListing parse_repo_listing(std::string_view json_text, const std::string& source) {
  json::Value doc = json::parse(json_text, source);
  if (!doc.is_object()) fail_format(source, "the repository listing is not a JSON object");
  RepoListing listing;
  const json::Value* sha = doc.find("sha");
  if (!sha || !sha->is_string() || !is_commit_sha(sha->as_string()))
    fail_format(source, "the repository listing has no commit sha (\"sha\")");
  listing.commit = sha->as_string();
  const json::Value* siblings = doc.find("siblings");
  if (!siblings || !siblings->is_array()) fail_format(source, "the repository listing has no \"siblings\" array");
  for (const json::Value& s : siblings->items()) {
    const json::Value* name = s.find("rfilename");
    if (!name || !name->is_string()) fail_format(source, "a sibling without \"rfilename\"");
    try {
      check_relative_name(name->as_string(), source, true);
    } catch (const Error&) {
      continue;  // a name that could leave the snapshot folder is never downloaded
    }
    listing.files.push_back(name->as_string());
  }
  return listing;
}

}  // namespace mb::hub
