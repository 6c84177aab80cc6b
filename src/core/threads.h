// parallel_for: runs fn(i) for i in [0, n) on up to `threads` threads (0 = hardware concurrency), the
// calling thread included. The first exception thrown by any fn is rethrown once all threads stop.
#pragma once

#include <cstddef>
#include <functional>

namespace mb {

size_t default_thread_count();
void parallel_for(size_t n, size_t threads, const std::function<void(size_t)>& fn);

}  // namespace mb
