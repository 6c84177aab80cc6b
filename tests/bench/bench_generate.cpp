// Generation speed of the CUDA backend (GPU machine): greedy decode tokens/s at batch 1, 2, 4, 8 and 32 (32-token
// prompts, 128 new tokens; end to end as transformers' generate is timed by ../shared/bench/peer_bench.py, and
// the decode steps alone), and the time to the first token of a 2048-token prompt.
// usage: bench_generate HF_DIR [REPEATS=3] [profile | b1 | curve]   (MB_CUDA_GRAPHS=0: decode steps launched one
// kernel at a time; profile: one short batch-1 generation and one 2048-token prefill, for a profiler to look at;
// b1: batch-1 decode only; curve: the decode step's time at batch 1 to 512)
// Prints one JSON object.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bridge/param_source.h"
#include "engine/cuda/cuda_model.h"
#include "generate_timing.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s HF_DIR [REPEATS] [b1 | curve | profile]\n", argv[0]);
    return 2;
  }
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 3;
  auto t_load = std::chrono::steady_clock::now();
  auto source = mb::bridge::open_hf_source(argv[1]);
  mb::engine::CudaModel model(*source, 0);
  const double load_s = mbbench::seconds_since(t_load);
  const int64_t V = model.config().vocab_size;
  std::mt19937 rng(0);
  auto prompts = [&](int batch, int length) { return mbbench::random_prompts(rng, batch, length, V); };
  auto best_time = [&](const std::vector<std::vector<int32_t>>& p, int64_t new_tokens) {
    return mbbench::best_generate_time(model, p, new_tokens, repeats);
  };
  best_time(prompts(1, 32), 8);  // warm up: cuBLAS heuristics, the pool
  if (argc > 3 && std::string(argv[3]) == "profile") {
    best_time(prompts(1, 32), 16);
    best_time(prompts(1, 2048), 1);
    return 0;
  }
  // "curve": the decode step's time from batch 1 to 512 (where it starts to grow with the rows)
  if (argc > 3 && std::string(argv[3]) == "curve") {
    const char* sep = "{";
    for (int batch : {1, 32, 64, 128, 256, 512}) {
      auto p = prompts(batch, 32);
      const double first = best_time(p, 1), more = best_time(p, 33);
      std::printf("%s\"b%d_step_ms\": %.3f", sep, batch, (more - first) / 32 * 1e3);
      sep = ", ";
    }
    std::printf("}\n");
    return 0;
  }
  // "b1": batch-1 decode only (quick A/B runs of one setting)
  const bool b1_only = argc > 3 && std::string(argv[3]) == "b1";
  std::printf("{\"load_s\": %.3f", load_s);
  for (int batch : {1, 2, 4, 8, 32}) {
    if (b1_only && batch > 1) break;
    auto p = prompts(batch, 32);
    const double first = best_time(p, 1), all = best_time(p, 128), more = best_time(p, 129);
    std::printf(", \"b%d_generate_tok_s\": %.1f, \"b%d_decode_tok_s\": %.1f, \"b%d_step_ms\": %.3f", batch,
                batch * 128 / all, batch, batch * 128 / (more - first), batch, (more - first) / 128 * 1e3);
  }
  if (b1_only) {
    std::printf("}\n");
    return 0;
  }
  auto long_prompt = prompts(1, 2048);
  std::printf(", \"prefill_2048_first_token_s\": %.4f", best_time(long_prompt, 1));
  std::printf(", \"graphs\": %s}\n", std::getenv("MB_CUDA_GRAPHS") && std::string(std::getenv("MB_CUDA_GRAPHS")) == "0" ? "false" : "true");
  return 0;
}
