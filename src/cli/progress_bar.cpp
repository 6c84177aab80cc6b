#include "cli/progress_bar.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>

namespace mb::cli {

ProgressFn progress_bar(bool enabled) {
  if (!enabled || !isatty(STDERR_FILENO)) return {};
  struct State {
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point last;
  };
  auto state = std::make_shared<State>();
  return [state](const std::string& stage, uint64_t done, uint64_t total) {
    auto now = std::chrono::steady_clock::now();
    bool finished = total && done >= total;
    if (!finished && now - state->last < std::chrono::milliseconds(100)) return true;
    state->last = now;
    double seconds = std::chrono::duration<double>(now - state->start).count();
    double fraction = total ? static_cast<double>(done) / static_cast<double>(total) : 0.0;
    int filled = static_cast<int>(fraction * 30);
    char bar[31];
    for (int i = 0; i < 30; ++i) bar[i] = i < filled ? '#' : '.';
    bar[30] = '\0';
    double rate = seconds > 0 ? static_cast<double>(done) / seconds / 1e6 : 0.0;
    std::fprintf(stderr, "\r%s [%s] %5.1f%%  %.0f MB/s  %.1fs", stage.c_str(), bar, fraction * 100, rate, seconds);
    if (finished) std::fprintf(stderr, "\n");
    std::fflush(stderr);
    return true;
  };
}

}  // namespace mb::cli
