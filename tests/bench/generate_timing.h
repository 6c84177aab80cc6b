// What the generation benchmarks share: random prompts, and the best wall time of a generate call.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "engine/model.h"

namespace mbbench {

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// `batch` prompts of `length` ids drawn uniformly from the vocabulary.
inline std::vector<std::vector<int32_t>> random_prompts(std::mt19937& rng, int batch, int length, int64_t vocab) {
  std::vector<std::vector<int32_t>> p(static_cast<size_t>(batch));
  for (auto& s : p)
    for (int t = 0; t < length; ++t) s.push_back(static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab)));
  return p;
}

// The best of `repeats` wall times of one greedy generate call of `new_tokens` tokens (a sequence that ends
// early is reported on stderr: its time would not be comparable).
inline double best_generate_time(mb::engine::Model& model, const std::vector<std::vector<int32_t>>& prompts,
                                 int64_t new_tokens, int repeats) {
  mb::engine::GenerateOptions o;
  o.max_new_tokens = new_tokens;
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    auto out = model.generate(prompts, o, {});
    best = std::min(best, seconds_since(t0));
    for (const auto& s : out)
      if (static_cast<int64_t>(s.size()) != new_tokens) std::fprintf(stderr, "short sequence\n");
  }
  return best;
}

}  // namespace mbbench
