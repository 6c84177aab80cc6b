// Library-wide C ABI functions: version, status and dtype names, the log callback, the last error.
#include <string>

#include "api/api_guard.h"
#include "core/device_memory.h"
#include "core/dtype.h"
#include "core/log.h"
#include "mbridge.h"

static_assert(MB_OK == static_cast<int>(mb::Status::kOk) && MB_DONE == static_cast<int>(mb::Status::kDone) &&
                  MB_ERR_INVALID_ARGUMENT == static_cast<int>(mb::Status::kInvalidArgument) &&
                  MB_ERR_IO == static_cast<int>(mb::Status::kIo) && MB_ERR_FORMAT == static_cast<int>(mb::Status::kFormat) &&
                  MB_ERR_UNSUPPORTED == static_cast<int>(mb::Status::kUnsupported) &&
                  MB_ERR_NOT_FOUND == static_cast<int>(mb::Status::kNotFound) &&
                  MB_ERR_OUT_OF_MEMORY == static_cast<int>(mb::Status::kOutOfMemory) &&
                  MB_ERR_CANCELLED == static_cast<int>(mb::Status::kCancelled) &&
                  MB_ERR_CUDA == static_cast<int>(mb::Status::kCuda) &&
                  MB_ERR_INTERNAL == static_cast<int>(mb::Status::kInternal) &&
                  MB_ERR_ACCESS_DENIED == static_cast<int>(mb::Status::kAccessDenied) &&
                  MB_ERR_NETWORK == static_cast<int>(mb::Status::kNetwork),
              "mb_status and mb::Status must agree");
static_assert(MB_DTYPE_BOOL == static_cast<int>(mb::DType::BOOL) && MB_DTYPE_BF16 == static_cast<int>(mb::DType::BF16),
              "mb_dtype and mb::DType must agree");

namespace mb::api {
namespace {
thread_local std::string t_last_error;
}
void set_last_error(const std::string& message) { t_last_error = message; }
void clear_last_error() { t_last_error.clear(); }
}  // namespace mb::api

extern "C" {

const char* mb_version(void) { return MB_VERSION_STRING; }
int mb_version_number(void) { return MB_VERSION_NUMBER; }

const char* mb_status_string(mb_status status) {
  switch (status) {
    case MB_OK: return "ok";
    case MB_DONE: return "done";
    case MB_ERR_INVALID_ARGUMENT: return "invalid argument";
    case MB_ERR_IO: return "i/o error";
    case MB_ERR_FORMAT: return "malformed file";
    case MB_ERR_UNSUPPORTED: return "unsupported";
    case MB_ERR_NOT_FOUND: return "not found";
    case MB_ERR_OUT_OF_MEMORY: return "out of memory";
    case MB_ERR_CANCELLED: return "cancelled";
    case MB_ERR_CUDA: return "CUDA error";
    case MB_ERR_INTERNAL: return "internal error";
    case MB_ERR_ACCESS_DENIED: return "access denied";
    case MB_ERR_NETWORK: return "network error";
  }
  return "unknown status";
}

const char* mb_last_error(void) { return mb::api::t_last_error.c_str(); }

const char* mb_dtype_name(mb_dtype dtype) {
  if (dtype < 0 || dtype >= mb::kNumDTypes) return nullptr;
  return mb::dtype_name(static_cast<mb::DType>(dtype));
}

size_t mb_dtype_size(mb_dtype dtype) {
  if (dtype < 0 || dtype >= mb::kNumDTypes) return 0;
  return mb::dtype_size(static_cast<mb::DType>(dtype));
}

void mb_set_log_callback(mb_log_fn fn, mb_log_level min_level, void* user_data) {
  if (!fn) {
    mb::set_log_sink(nullptr, mb::LogLevel::kInfo);
    return;
  }
  mb::set_log_sink([fn, user_data](mb::LogLevel level, const std::string& message) {
    fn(static_cast<mb_log_level>(level), message.c_str(), user_data);
  }, static_cast<mb::LogLevel>(min_level));
}

int mb_cuda_device_count(void) {
  try {
    return mb::cuda_device_count();
  } catch (...) {
    return 0;
  }
}

}  // extern "C"
