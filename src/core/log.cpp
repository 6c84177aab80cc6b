#include "core/log.h"

#include <mutex>

#include "core/error.h"

namespace mb {
namespace {
std::mutex g_mutex;
LogSink g_sink;
LogLevel g_min_level = LogLevel::kInfo;
}  // namespace

void set_log_sink(LogSink sink, LogLevel min_level) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_sink = std::move(sink);
  g_min_level = min_level;
}

void log(LogLevel level, const std::string& message) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_sink && level >= g_min_level) g_sink(level, message);
}

void Progress::advance(uint64_t amount) {
  done_ += amount;
  if (fn_ && !fn_(stage_, done_, total_)) fail(Status::kCancelled, stage_, ": cancelled");
}

void Progress::finish() {
  if (fn_ && done_ < total_) {
    done_ = total_;
    if (!fn_(stage_, done_, total_)) fail(Status::kCancelled, stage_, ": cancelled");
  }
}

}  // namespace mb
