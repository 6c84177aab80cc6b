// Reads every tensor of a safetensors file (or folder) through mbridge and reports the throughput.
// usage: bench_read_safetensors PATH [--threads N] [--mode mmap|copy]
//   mmap: the library's zero-copy tensors, every byte touched (summed) once
//   copy: every tensor copied into freshly allocated host memory (what a converter that owns its
//         buffers pays)
// Prints one JSON line: {"bytes", "seconds", "GBps", "threads", "mode", "checksum"}.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "core/threads.h"
#include "io/safetensors_sharded.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PATH [--threads N] [--mode mmap|copy]\n", argv[0]);
    return 2;
  }
  std::string path = argv[1], mode = "mmap";
  size_t threads = 8;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads")) threads = std::stoul(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--mode")) mode = argv[i + 1];
  }
  auto t0 = std::chrono::steady_clock::now();
  auto folder = mb::SafetensorsFolder::open(path);
  // Work items: pieces of at most 64 MB, so large tensors are read by several threads.
  struct Piece {
    const mb::SafetensorsFile* file;
    const mb::SafetensorsEntry* entry;
    uint64_t begin, end;
  };
  std::vector<Piece> pieces;
  uint64_t total = 0;
  const uint64_t kPiece = 64ull << 20;
  for (const std::string& name : folder->names()) {
    auto r = folder->find(name);
    uint64_t n = r.entry->end - r.entry->begin;
    total += n;
    for (uint64_t at = 0; at < n; at += kPiece) pieces.push_back({r.file, r.entry, at, std::min(n, at + kPiece)});
  }
  std::atomic<uint64_t> checksum{0};
  mb::parallel_for(pieces.size(), threads, [&](size_t i) {
    const Piece& p = pieces[i];
    mb::Tensor t = p.file->tensor(*p.entry);  // zero-copy view of the mapped file
    const uint8_t* base = static_cast<const uint8_t*>(t.data()) + p.begin;
    size_t n = static_cast<size_t>(p.end - p.begin);
    uint64_t sum = 0;
    if (mode == "copy") {
      auto storage = mb::Storage::allocate(n);
      std::memcpy(storage->mutable_data(), base, n);
      const uint8_t* q = storage->data();
      for (size_t k = 0; k < n; k += 4096) sum += q[k];
    } else {
      p.file->prefetch(*p.entry);
      for (size_t k = 0; k + 8 <= n; k += 8) {
        uint64_t w;
        std::memcpy(&w, base + k, 8);
        sum += w;
      }
    }
    checksum += sum;
  });
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("{\"bytes\": %llu, \"seconds\": %.3f, \"GBps\": %.3f, \"threads\": %zu, \"mode\": \"%s\", \"checksum\": %llu}\n",
              static_cast<unsigned long long>(total), s, total / s / 1e9, threads, mode.c_str(),
              static_cast<unsigned long long>(checksum.load()));
  return 0;
}
