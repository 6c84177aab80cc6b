// Choosing the next token from logits: greedy (argmax; the first of equal maxima), or sampled with
// temperature, then top-k, then top-p (the order transformers applies its logits processors in), from a
// seeded generator so a seed gives the same tokens on every machine.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace mb::engine {

struct SamplingOptions {
  double temperature = 0;  // 0: greedy
  int64_t top_k = 0;       // 0: no limit
  double top_p = 1.0;      // 1: no limit
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplingOptions& options);
  int32_t pick(const float* logits, int64_t vocab);

 private:
  double uniform();  // [0, 1)
  SamplingOptions options_;
  uint64_t state_;
};

int32_t argmax(const float* logits, int64_t vocab);
// The k largest logits, largest first (ties: lower id first).
std::vector<std::pair<int32_t, float>> top_logits(const float* logits, int64_t vocab, int64_t k);

}  // namespace mb::engine
