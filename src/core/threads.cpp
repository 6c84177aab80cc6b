#include "core/threads.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace mb {

size_t default_thread_count() {
  static const size_t count = [] {
    unsigned n = std::thread::hardware_concurrency();  // reads /sys on every call: asked once
    return n ? static_cast<size_t>(n) : size_t{1};
  }();
  return count;
}

void parallel_for(size_t n, size_t threads, const std::function<void(size_t)>& fn) {
  if (n == 0) return;
  if (threads == 0) threads = default_thread_count();
  if (threads > n) threads = n;
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto worker = [&] {
    while (!stop.load(std::memory_order_relaxed)) {
      size_t i = next.fetch_add(1);
      if (i >= n) return;
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        stop = true;
      }
    }
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

void parallel_pieces(size_t total, size_t piece, const std::function<void(size_t, size_t)>& fn) {
  if (total == 0) return;
  if (piece == 0) piece = total;
  const size_t n = (total + piece - 1) / piece;
  // Memory and the page cache stop scaling past a few cores; more threads only add contention.
  const size_t threads = std::min<size_t>(default_thread_count(), 8);
  parallel_for(n, threads, [&](size_t i) { fn(i * piece, std::min(piece, total - i * piece)); });
}

}  // namespace mb
