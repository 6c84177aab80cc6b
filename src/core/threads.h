// parallel_for: runs fn(i) for i in [0, n) on up to `threads` threads (0 = hardware concurrency), the
// calling thread included. The first exception thrown by any fn is rethrown once all threads stop.
#pragma once

#include <cstddef>
#include <functional>

namespace mb {

size_t default_thread_count();
void parallel_for(size_t n, size_t threads, const std::function<void(size_t)>& fn);

// Splits [0, total) into pieces of `piece` units (the last shorter) and runs fn(begin, length) on them in
// parallel: how one large buffer is copied, checksummed or written by several cores at once.
void parallel_pieces(size_t total, size_t piece, const std::function<void(size_t, size_t)>& fn);

// Buffers smaller than this are handled by the calling thread alone (threads would cost more than they save).
constexpr size_t kParallelBytes = 32u << 20;
constexpr size_t kParallelPieceBytes = 8u << 20;

}  // namespace mb
