// Errors inside the library: one exception type carrying a status code and a message that names the
// file, tensor and reason. The C ABI boundary (src/api) turns it into an mb_status and mb_last_error().
#pragma once

#include <exception>
#include <sstream>
#include <string>
#include <utility>

namespace mb {

// Same numbers as mb_status in include/mbridge.h (src/api checks that they agree).
enum class Status : int {
  kOk = 0,
  kDone = 1,
  kInvalidArgument = -1,
  kIo = -2,
  kFormat = -3,
  kUnsupported = -4,
  kNotFound = -5,
  kOutOfMemory = -6,
  kCancelled = -7,
  kCuda = -8,
  kInternal = -9,
  kAccessDenied = -10,
  kNetwork = -11,
};

class Error : public std::exception {
 public:
  Error(Status status, std::string message) : status_(status), message_(std::move(message)) {}
  Status status() const { return status_; }
  const char* what() const noexcept override { return message_.c_str(); }
  const std::string& message() const { return message_; }

 private:
  Status status_;
  std::string message_;
};

// cat(a, b, c): the pieces written one after the other, as std::ostream would print them.
template <class... Parts>
std::string cat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

template <class... Parts>
[[noreturn]] void fail(Status status, const Parts&... parts) {
  throw Error(status, cat(parts...));
}

// A malformed or hostile file: the message starts with the file's path.
template <class... Parts>
[[noreturn]] void fail_format(const std::string& file, const Parts&... parts) {
  throw Error(Status::kFormat, cat(file, ": ", parts...));
}

}  // namespace mb
