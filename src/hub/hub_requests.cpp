#include "hub/hub_requests.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "core/error.h"
#include "core/log.h"
#include "hub/hub_errors.h"
#include "hub/http_client.h"

namespace mb::hub {

namespace {

constexpr int kMaxMetadataAttempts = 3;
constexpr int kMaxRelativeRedirects = 10;

HttpRequest metadata_request(const std::string& url, const HubSettings& settings) {
  HttpRequest r;
  r.url = url;
  r.headers.push_back("Accept-Encoding: identity");  // sizes must be the files' own
  if (std::string auth = auth_header(settings); !auth.empty()) r.headers.push_back(auth);
  r.connect_timeout_s = settings.metadata_timeout_s;
  r.stall_timeout_s = settings.metadata_timeout_s;
  r.total_timeout_s = 6 * settings.metadata_timeout_s;
  return r;
}

// The request, again after a pause when the network failed or the Hub was busy; other answers return.
HttpResponse with_retries(const HttpRequest& request, const HubSettings& settings) {
  double pause = settings.retry_pause_s;
  const int attempts = std::min(kMaxMetadataAttempts, settings.retries + 1);
  for (int attempt = 1;; ++attempt) {
    try {
      HttpResponse r = http_request(request);
      if (!is_transient_status(r.status) || attempt >= attempts) return r;
      log_warning(cat(request.url, ": HTTP ", r.status, "; trying again in ", pause, "s"));
    } catch (const NetworkError& e) {
      if (e.unreachable() || attempt >= attempts) throw;
      log_warning(cat(e.message(), "; trying again in ", pause, "s"));
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(pause));
    pause *= 2;
  }
}

}  // namespace

std::string auth_header(const HubSettings& settings) {
  if (settings.token.empty()) return "";
  for (unsigned char c : settings.token)
    if (c < 0x21 || c == 0x7F)
      fail(Status::kInvalidArgument, "the Hugging Face token from ", settings.token_origin,
           " holds a space or control character, which an HTTP header cannot carry");
  return "Authorization: Bearer " + settings.token;
}

RepoListing request_listing(const HubId& id, const HubSettings& settings) {
  const std::string url = api_revision_url(settings.endpoint, id.repo, id.revision);
  HttpResponse r = with_retries(metadata_request(url, settings), settings);
  if (r.status != 200) fail_http(r, id, id.text(), settings);
  return parse_repo_listing(r.body, url);
}

FileMetadata request_file_metadata(const HubId& id, const std::string& revision, const std::string& file,
                                   const RepoCache& cache, const HubSettings& settings) {
  const std::string what = cat(id.repo, "@", revision, ": ", file);
  HttpRequest request = metadata_request(resolve_url(settings.endpoint, id.repo, revision, file), settings);
  request.head = true;
  HttpResponse r;
  // Follow redirects within the Hub (a renamed repository answers with a relative Location); a redirect to
  // another host is the file's storage location, read from the answer itself.
  for (int hop = 0;; ++hop) {
    r = with_retries(request, settings);
    auto location = r.header("location");
    if (!r.is_redirect() || !location || location->empty() || location->find("://") != std::string::npos ||
        location->rfind("//", 0) == 0)
      break;
    if (hop >= kMaxRelativeRedirects) fail(Status::kNetwork, what, ": too many redirects");
    request.url = resolve_location(request.url, *location);
  }
  if (r.status >= 400) {
    if (r.header("x-error-code") == "EntryNotFound") {
      auto commit = r.header("x-repo-commit");
      if (commit && is_commit_sha(*commit)) {
        cache.mark_missing(*commit, file);
        cache.write_ref(revision, *commit);
      }
    }
    HubId at = id;
    at.revision = revision;
    fail_http(r, at, what, settings);
  }
  return parse_file_metadata(r, request.url, what);
}

}  // namespace mb::hub
