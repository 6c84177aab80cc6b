// Logging and progress. The library prints nothing by itself: messages go to the sink the host installs
// (mb_set_log_callback; the mbridge command installs stderr). Progress callbacks may cancel long work.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace mb {

enum class LogLevel : int { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

using LogSink = std::function<void(LogLevel, const std::string&)>;
void set_log_sink(LogSink sink, LogLevel min_level);
void log(LogLevel level, const std::string& message);
inline void log_info(const std::string& m) { log(LogLevel::kInfo, m); }
inline void log_warning(const std::string& m) { log(LogLevel::kWarning, m); }

// Called as work advances; returns false to cancel (the work then throws Error(kCancelled)).
using ProgressFn = std::function<bool(const std::string& stage, uint64_t done, uint64_t total)>;

class Progress {
 public:
  Progress() = default;
  Progress(ProgressFn fn, std::string stage, uint64_t total) : fn_(std::move(fn)), stage_(std::move(stage)), total_(total) {}
  void advance(uint64_t amount);  // throws Error(kCancelled) when the callback says stop
  void finish();

 private:
  ProgressFn fn_;
  std::string stage_;
  uint64_t total_ = 0;
  uint64_t done_ = 0;
};

}  // namespace mb
