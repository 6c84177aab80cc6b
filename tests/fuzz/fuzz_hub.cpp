// What the Hub sends and users type, parsed as hostile input: a Hub id, response header lines, a HEAD
// answer's metadata, a Content-Range, a Location, a repository listing. Whatever parses must be safe to
// turn into cache paths: names that cannot leave their folder, etags that are plain file names.
// Input: sections separated by NUL bytes: id, header lines, listing JSON, Content-Range, Location; the
// first byte picks the HEAD answer's status.
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/paths.h"
#include "hub/http_client.h"
#include "hub/hub_id.h"
#include "hub/hub_protocol.h"

namespace {

std::vector<std::string_view> sections(std::string_view text) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (out.size() < 4) {
    size_t end = text.find('\0', start);
    if (end == std::string_view::npos) break;
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  out.push_back(text.substr(start));
  while (out.size() < 5) out.push_back({});
  return out;
}

void must(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const long kStatus[] = {200, 206, 302, 307, 404};
  const long status = kStatus[data[0] % 5];
  auto parts = sections(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));

  std::string why;
  if (auto id = mb::hub::parse_hub_id(std::string(parts[0]), &why)) {
    const std::string folder = mb::hub::repo_folder_name(id->repo);
    must(folder.find('/') == std::string::npos && folder.find("..") == std::string::npos);
    try {
      mb::check_relative_name(id->revision, "fuzz", true);  // refs/<revision> stays inside refs/
    } catch (const mb::Error&) {
      __builtin_trap();
    }
    must(mb::hub::valid_revision(id->revision));
  }

  mb::hub::HttpResponse head;
  head.status = status;
  size_t start = 0;
  const std::string_view block = parts[1];
  while (start <= block.size()) {
    size_t end = block.find('\n', start);
    if (end == std::string_view::npos) end = block.size();
    std::pair<std::string, std::string> header;
    if (mb::hub::parse_header_line(block.substr(start, end - start), header)) head.headers.push_back(header);
    start = end + 1;
  }
  try {
    auto meta = mb::hub::parse_file_metadata(head, "https://hub.example/o/n/resolve/main/f", "fuzz");
    must(mb::hub::valid_blob_name(meta.etag) && meta.etag.find('/') == std::string::npos && meta.etag[0] != '.');
    must(mb::hub::is_commit_sha(meta.commit));
    must(meta.location.rfind("http://", 0) == 0 || meta.location.rfind("https://", 0) == 0);
  } catch (const mb::Error&) {
  }

  mb::hub::RepoListing listing;
  try {
    listing = mb::hub::parse_repo_listing(parts[2], "fuzz");
    must(mb::hub::is_commit_sha(listing.commit));
  } catch (const mb::Error& e) {
    if (e.status() != mb::Status::kFormat) __builtin_trap();
  }
  for (const auto& f : listing.files) {
    try {
      mb::check_relative_name(f, "fuzz", true);  // every listed name stays inside the snapshot folder
    } catch (const mb::Error&) {
      __builtin_trap();
    }
  }

  mb::hub::content_range_start(parts[3]);
  const std::string location(parts[4]);
  mb::hub::resolve_location("https://hub.example/o/n/resolve/main/f", location);
  mb::hub::url_origin(location);
  mb::hub::url_encode(location, true);
  mb::hub::normalize_etag(location);
  return 0;
}
