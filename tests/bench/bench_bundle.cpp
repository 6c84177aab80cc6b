// Load throughput of a model from its folder (safetensors, memory-mapped) or from its bundle (.mbz, tensors
// decoded on demand): the model opened through the bridge, as mb_bridge_open does, and every Hugging Face tensor
// streamed out (mb_export_next) with each byte read once on every core; optionally the weights then built on a
// backend as mb_load_weights does.
// usage: bench_bundle PATH [--threads N] [--engine cpu|cuda]
// Prints one JSON line: {"path", "tensors", "bytes", "open_seconds", "seconds", "GBps", "engine_seconds"}.
// Also, for machines without the zstd program (run_bundle_bench.sh falls back to it), what `zstd -LEVEL -TN`
// and `zstd -d` do to a stream, with the same library: bench_bundle zstd LEVEL THREADS < in > out,
// bench_bundle unzstd < in > out.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "bridge/export_stream.h"
#include "bridge/param_source.h"
#include "core/error.h"
#include "core/threads.h"
#include "engine/model.h"

#include <zstd.h>

#include <vector>

namespace {

// stdin to stdout through a zstd stream: compressed at `level` on `threads` workers (0: zstd's own
// single-threaded mode, as `zstd -T1`), or decompressed.
int zstd_stream(bool compress, int level, int threads) {
  std::vector<char> in(ZSTD_CStreamInSize() * 4), out(ZSTD_CStreamOutSize() * 4);
  ZSTD_CCtx* c = compress ? ZSTD_createCCtx() : nullptr;
  ZSTD_DCtx* d = compress ? nullptr : ZSTD_createDCtx();
  if (c) {
    ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level);
    if (threads > 1) ZSTD_CCtx_setParameter(c, ZSTD_c_nbWorkers, threads);
  }
  bool last = false;
  while (!last) {
    size_t n = std::fread(in.data(), 1, in.size(), stdin);
    last = n < in.size();
    ZSTD_inBuffer ib{in.data(), n, 0};
    bool more = true;
    while (more) {
      ZSTD_outBuffer ob{out.data(), out.size(), 0};
      size_t r = c ? ZSTD_compressStream2(c, &ob, &ib, last ? ZSTD_e_end : ZSTD_e_continue)
                   : ZSTD_decompressStream(d, &ob, &ib);
      if (ZSTD_isError(r)) {
        std::fprintf(stderr, "bench_bundle: zstd: %s\n", ZSTD_getErrorName(r));
        return 1;
      }
      std::fwrite(out.data(), 1, ob.pos, stdout);
      more = c ? (last ? r != 0 : ib.pos < ib.size) : (ib.pos < ib.size || ob.pos == ob.size);
    }
  }
  ZSTD_freeCCtx(c);
  ZSTD_freeDCtx(d);
  return 0;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PATH [--threads N] [--engine cpu|cuda]\n", argv[0]);
    return 2;
  }
  const std::string path = argv[1];
  if (path == "zstd" && argc == 4) return zstd_stream(true, std::atoi(argv[2]), std::atoi(argv[3]));
  if (path == "unzstd") return zstd_stream(false, 0, 0);
  size_t threads = 0;
  std::string engine;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads")) threads = std::stoul(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--engine")) engine = argv[i + 1];
  }
  if (threads == 0) threads = mb::default_thread_count();
  try {
    auto t0 = std::chrono::steady_clock::now();
    auto source = mb::bridge::open_param_source(path);
    const double open_seconds = seconds_since(t0);
    mb::bridge::ExportStream stream(*source, mb::bridge::ExportTarget::kHuggingFace);
    std::string name;
    mb::Tensor t;
    uint64_t bytes = 0, tensors = 0;
    std::atomic<uint64_t> checksum{0};
    while (stream.next(name, t)) {
      const auto* p = static_cast<const uint8_t*>(t.numel() ? t.data() : nullptr);
      const size_t n = t.nbytes();
      const size_t pieces = (n + (8u << 20) - 1) / (8u << 20);
      mb::parallel_for(pieces, threads, [&](size_t k) {
        const size_t begin = k * (8u << 20), end = std::min(n, begin + (8u << 20));
        uint64_t sum = 0;
        for (size_t i = begin; i + 8 <= end; i += 8) {
          uint64_t w;
          std::memcpy(&w, p + i, 8);
          sum += w;
        }
        checksum += sum;
      });
      bytes += n;
      ++tensors;
      source->drop_pages();
    }
    const double seconds = seconds_since(t0);
    double engine_seconds = -1;
    if (!engine.empty()) {
      auto t1 = std::chrono::steady_clock::now();
      auto model = mb::engine::load_model(*source, engine);
      engine_seconds = seconds_since(t1);
    }
    std::printf("{\"path\": \"%s\", \"tensors\": %llu, \"bytes\": %llu, \"open_seconds\": %.3f, \"seconds\": %.3f, "
                "\"GBps\": %.3f, \"threads\": %zu, \"engine\": \"%s\", \"engine_seconds\": %.3f, \"checksum\": %llu}\n",
                path.c_str(), static_cast<unsigned long long>(tensors), static_cast<unsigned long long>(bytes),
                open_seconds, seconds, bytes / seconds / 1e9, threads, engine.c_str(), engine_seconds,
                static_cast<unsigned long long>(checksum.load()));
  } catch (const mb::Error& e) {
    std::fprintf(stderr, "bench_bundle: %s\n", e.what());
    return 1;
  }
  return 0;
}
