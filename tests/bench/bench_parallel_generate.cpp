// Generation speed of one tensor- or pipeline-parallel run on GPUs (GPU machine): greedy decode tokens/s at batch
// 1 and 16 (32-token prompts, 64 new tokens; "decode" is the time of 65 new tokens minus that of 1), and the time
// to the first token of one 2048-token prompt and of four 512-token prompts (a pipeline's micro-batches). Run it
// with TP 1 and with TP 2 (or PP 2) in the same call to compare them (docs/performance.md).
// usage: bench_parallel_generate HF_DIR DEVICE TP PP [REPEATS=3]
//   DEVICE "cuda": rank r on GPU r, NCCL between them; "cuda:N": every rank on GPU N, collectives staged through
//   host memory (a check of the split, not of its speed)
// Prints one JSON object.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bridge/param_source.h"
#include "core/error.h"
#include "engine/model.h"
#include "generate_timing.h"

int main(int argc, char** argv) try {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s HF_DIR DEVICE TP PP [REPEATS]\n", argv[0]);
    return 2;
  }
  const std::string device = argv[2];
  mb::engine::ParallelOptions parallel;
  parallel.tp = std::atoi(argv[3]);
  parallel.pp = std::atoi(argv[4]);
  const int repeats = argc > 5 ? std::atoi(argv[5]) : 3;
  auto t_load = std::chrono::steady_clock::now();
  auto source = mb::bridge::open_hf_source(argv[1]);
  auto model = mb::engine::load_model(*source, device, parallel);
  const double load_s = mbbench::seconds_since(t_load);
  const int64_t V = model->config().vocab_size;
  std::mt19937 rng(0);
  auto prompts = [&](int batch, int length) { return mbbench::random_prompts(rng, batch, length, V); };
  auto best_time = [&](const std::vector<std::vector<int32_t>>& p, int64_t new_tokens) {
    return mbbench::best_generate_time(*model, p, new_tokens, repeats);
  };
  best_time(prompts(1, 32), 8);  // warm up: cuBLAS heuristics, the pools, the communicators
  std::printf("{\"device\": \"%s\", \"tp\": %d, \"pp\": %d, \"load_s\": %.3f", device.c_str(), parallel.tp, parallel.pp,
              load_s);
  for (int batch : {1, 16}) {
    auto p = prompts(batch, 32);
    const double first = best_time(p, 1), more = best_time(p, 65);
    std::printf(", \"b%d_decode_tok_s\": %.1f, \"b%d_step_ms\": %.3f", batch, batch * 64 / (more - first), batch,
                (more - first) / 64 * 1e3);
  }
  std::printf(", \"prefill_1x2048_first_token_s\": %.4f", best_time(prompts(1, 2048), 1));
  std::printf(", \"prefill_4x512_first_token_s\": %.4f}\n", best_time(prompts(4, 512), 1));
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_parallel_generate: %s\n", e.what());
  return 1;
}
