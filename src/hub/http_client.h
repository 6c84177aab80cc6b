// HTTP for the Hub, over libcurl: HEAD and GET with our own headers, response headers collected (names in
// lower case), bodies streamed to a callback, ranges for resuming. Redirects are not followed unless asked:
// the Hub's answer to a HEAD is read from the redirect itself (huggingface_hub does the same).
// Failures to reach the server or to finish a transfer throw Error(kNetwork) naming the URL.
// Built without libcurl (MB_WITH_CURL=0), every request throws Error(kUnsupported): the cache still works.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"

namespace mb::hub {

// A failed request (Status::kNetwork). `unreachable`: no connection could be made at all (unknown host,
// refused): trying again at once rarely helps, unlike a reset or a stalled transfer.
class NetworkError : public Error {
 public:
  NetworkError(std::string message, bool unreachable)
      : Error(Status::kNetwork, std::move(message)), unreachable_(unreachable) {}
  bool unreachable() const { return unreachable_; }

 private:
  bool unreachable_;
};

struct HttpResponse {
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // of the last response, names lower-cased
  std::string url;                                           // the URL that answered (after redirects)
  std::string body;                                          // text bodies, and error bodies (first 64 KB)

  std::optional<std::string> header(const std::string& lower_name) const;
  bool is_redirect() const { return status >= 300 && status < 400; }
};

struct HttpRequest {
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  bool head = false;
  bool follow_redirects = false;
  uint64_t range_from = 0;           // > 0: ask for the bytes from here on (Range: bytes=N-)
  long connect_timeout_s = 10;
  long stall_timeout_s = 10;         // abort when slower than 1 byte/s for this long
  long total_timeout_s = 0;          // 0: none (downloads), else the whole request
};

// Receives the body of a 2xx response, chunk by chunk; returns false to stop the transfer (cancelled).
// `start` is called once before the first chunk with the status and headers (206 answers a range; 200
// means the server sent the whole file instead).
struct BodySink {
  std::function<void(const HttpResponse& head)> start;
  std::function<bool(const char* data, size_t size)> write;
};

// True when this build can make requests (libcurl was found).
bool http_available();

// Makes the request. A 2xx body goes to `sink` when given, else into response.body (up to max_body bytes,
// more is an error); other bodies land in response.body, cut at 64 KB. Returns any HTTP status; throws on
// network failure, and Error(kCancelled) when the sink said stop.
HttpResponse http_request(const HttpRequest& request, const BodySink* sink = nullptr, size_t max_body = 16u << 20);

// One response header line ("Name: value", CRLF optional) as (lower-cased name, trimmed value); false for a
// status line or anything without a name.
bool parse_header_line(std::string_view line, std::pair<std::string, std::string>& out);

// "https://host:port/path" -> "https://host:port" (scheme and authority, lower-cased), "" when not a URL.
std::string url_origin(const std::string& url);
// A Location header resolved against the URL that sent it (absolute, "/path", or relative).
std::string resolve_location(const std::string& base, const std::string& location);
// Percent-encodes everything but unreserved characters (and '/' when keep_slash).
std::string url_encode(const std::string& text, bool keep_slash);

}  // namespace mb::hub
