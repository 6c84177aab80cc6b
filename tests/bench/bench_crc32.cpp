// CRC-32 throughput (every byte of a .pt or torch_dist file is checksummed): mbridge's crc32_of (carry-less
// multiply folding, large buffers split over cores) against zlib's crc32 alone, on one in-memory buffer.
// usage: bench_crc32 [MEGABYTES=1024] [REPEATS=5]
// Prints one JSON line per implementation: {"impl", "bytes", "best_seconds", "GBps", "crc"}.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "io/crc32.h"

namespace {
template <typename Fn>
void measure(const char* name, const std::vector<unsigned char>& buf, int repeats, Fn fn) {
  double best = 1e30;
  uint32_t crc = 0;
  for (int r = 0; r < repeats; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    crc = fn(buf.data(), buf.size());
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::printf("{\"impl\": \"%s\", \"bytes\": %zu, \"best_seconds\": %.4f, \"GBps\": %.2f, \"crc\": %u}\n", name,
              buf.size(), best, static_cast<double>(buf.size()) / best / 1e9, crc);
}
}  // namespace

int main(int argc, char** argv) {
  const size_t megabytes = argc > 1 ? std::stoul(argv[1]) : 1024;
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 5;
  std::vector<unsigned char> buf(megabytes << 20);
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<unsigned char>((i * 2654435761u) >> 11);
  measure("mbridge crc32_of", buf, repeats, [](const void* p, size_t n) { return mb::crc32_of(p, n); });
  measure("zlib crc32", buf, repeats, [](const void* p, size_t n) { return mb::crc32_portable(p, n); });
}
