#include "hub/http_client.h"

#include <cctype>
#include <exception>

#include "core/error.h"
#include "mbridge.h"

#if MB_WITH_CURL
#include <curl/curl.h>
#endif

namespace mb::hub {

std::optional<std::string> HttpResponse::header(const std::string& lower_name) const {
  for (const auto& [name, value] : headers)
    if (name == lower_name) return value;
  return std::nullopt;
}

bool parse_header_line(std::string_view line, std::pair<std::string, std::string>& out) {
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
  size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0 || line.rfind("HTTP/", 0) == 0) return false;
  std::string name(line.substr(0, colon));
  for (auto& c : name) {
    if (c == ' ' || c == '\t') return false;  // obs-fold or garbage: not a header
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  size_t b = colon + 1, e = line.size();
  while (b < e && (line[b] == ' ' || line[b] == '\t')) ++b;
  while (e > b && (line[e - 1] == ' ' || line[e - 1] == '\t')) --e;
  out = {std::move(name), std::string(line.substr(b, e - b))};
  return true;
}

std::string url_origin(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos || scheme == 0) return "";
  size_t end = url.find_first_of("/?#", scheme + 3);
  std::string origin = url.substr(0, end == std::string::npos ? url.size() : end);
  for (auto& c : origin) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return origin;
}

std::string resolve_location(const std::string& base, const std::string& location) {
  if (location.find("://") != std::string::npos) return location;
  if (location.rfind("//", 0) == 0) return base.substr(0, base.find("://") + 1) + location;
  if (!location.empty() && location[0] == '/') return url_origin(base) + location;
  std::string dir = base.substr(0, base.find_first_of("?#"));
  return dir.substr(0, dir.rfind('/') + 1) + location;
}

std::string url_encode(const std::string& text, bool keep_slash) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

#if MB_WITH_CURL

namespace {

constexpr size_t kErrorBodyLimit = 64u << 10;
constexpr size_t kMaxHeaders = 500;  // libcurl bounds each line; this bounds their number

void global_init() {
  // curl_global_init is not thread-safe; a function-local static runs it exactly once.
  static const CURLcode code = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (code != CURLE_OK) fail(Status::kNetwork, "libcurl could not start: ", curl_easy_strerror(code));
}

struct Transfer {
  CURL* curl = nullptr;
  HttpResponse* response = nullptr;
  const BodySink* sink = nullptr;
  size_t max_body = 0;
  bool started = false;
  bool cancelled = false;
  bool too_large = false;
  std::exception_ptr error;  // thrown by a sink: carried across libcurl's C frames, rethrown after
};

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::string_view line(data, size * count);
  if (line.rfind("HTTP/", 0) == 0) {  // a new response (after a redirect or a 100 Continue): start over
    t->response->headers.clear();
    return size * count;
  }
  std::pair<std::string, std::string> header;
  try {
    if (t->response->headers.size() >= kMaxHeaders)
      fail(Status::kFormat, "an answer with more than ", kMaxHeaders, " headers");
    if (parse_header_line(line, header)) t->response->headers.push_back(std::move(header));
  } catch (...) {
    t->error = std::current_exception();
    return 0;
  }
  return size * count;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  long status = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
  if (status >= 200 && status < 300 && t->sink) {
    try {
      if (!t->started) {
        t->started = true;
        t->response->status = status;
        if (t->sink->start) t->sink->start(*t->response);
      }
      if (!t->sink->write(data, n)) {
        t->cancelled = true;
        return 0;  // libcurl stops with CURLE_WRITE_ERROR
      }
    } catch (...) {
      t->error = std::current_exception();
      return 0;
    }
    return n;
  }
  const size_t limit = (status >= 200 && status < 300) ? t->max_body : kErrorBodyLimit;
  if (t->response->body.size() + n > limit) {
    if (status >= 200 && status < 300) {
      t->too_large = true;
      return 0;
    }
    t->response->body.append(data, limit - t->response->body.size());
    return n;  // an error page: keep its start, drop the rest
  }
  t->response->body.append(data, n);
  return n;
}

struct CurlHandle {
  CURL* curl = curl_easy_init();
  curl_slist* headers = nullptr;
  ~CurlHandle() {
    curl_slist_free_all(headers);
    if (curl) curl_easy_cleanup(curl);
  }
};

}  // namespace

bool http_available() { return true; }

HttpResponse http_request(const HttpRequest& request, const BodySink* sink, size_t max_body) {
  global_init();
  CurlHandle h;
  if (!h.curl) fail(Status::kOutOfMemory, "libcurl could not create a request");
  HttpResponse response;
  Transfer t;
  t.curl = h.curl;
  t.response = &response;
  t.sink = sink;
  t.max_body = max_body;
  char error[CURL_ERROR_SIZE] = {0};

  for (const std::string& header : request.headers) {
    curl_slist* next = curl_slist_append(h.headers, header.c_str());
    if (!next) fail(Status::kOutOfMemory, "libcurl could not add a header");
    h.headers = next;
  }
  const std::string range = std::to_string(request.range_from) + "-";
  CURL* c = h.curl;
  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM from other threads' timeouts
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "mbridge/" MB_VERSION_STRING);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h.headers);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_NOBODY, request.head ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, request.follow_redirects ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(c, CURLOPT_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS));
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, request.connect_timeout_s);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, request.stall_timeout_s);
  if (request.total_timeout_s > 0) curl_easy_setopt(c, CURLOPT_TIMEOUT, request.total_timeout_s);
  if (request.range_from > 0) curl_easy_setopt(c, CURLOPT_RANGE, range.c_str());

  CURLcode code = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  response.status = status;
  char* effective = nullptr;
  curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &effective);
  response.url = effective ? effective : request.url;
  if (t.error) std::rethrow_exception(t.error);
  if (t.cancelled) fail(Status::kCancelled, request.url, ": download cancelled");
  if (t.too_large) fail(Status::kFormat, request.url, ": answer larger than ", max_body, " bytes");
  if (code != CURLE_OK) {
    const bool unreachable = code == CURLE_COULDNT_RESOLVE_HOST || code == CURLE_COULDNT_RESOLVE_PROXY ||
                             code == CURLE_COULDNT_CONNECT;
    throw NetworkError(cat(request.url, ": ", error[0] ? error : curl_easy_strerror(code)), unreachable);
  }
  return response;
}

#else  // built without libcurl

bool http_available() { return false; }

HttpResponse http_request(const HttpRequest& request, const BodySink*, size_t) {
  fail(Status::kUnsupported, request.url,
       ": this mbridge was built without libcurl, so it cannot download from the Hugging Face Hub; "
       "use a local folder, or a model already in the Hugging Face cache (HF_HUB_OFFLINE=1)");
}

#endif

}  // namespace mb::hub
