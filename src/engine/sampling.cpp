#include "engine/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

namespace mb::engine {

int32_t argmax(const float* logits, int64_t vocab) {
  int64_t best = 0;
  for (int64_t v = 1; v < vocab; ++v)
    if (logits[v] > logits[best]) best = v;
  return static_cast<int32_t>(best);
}

std::vector<std::pair<int32_t, float>> top_logits(const float* logits, int64_t vocab, int64_t k) {
  std::vector<int32_t> ids(static_cast<size_t>(vocab));
  std::iota(ids.begin(), ids.end(), 0);
  k = std::min(k, vocab);
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(),
                    [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
  std::vector<std::pair<int32_t, float>> out;
  for (int64_t i = 0; i < k; ++i) out.emplace_back(ids[static_cast<size_t>(i)], logits[ids[static_cast<size_t>(i)]]);
  return out;
}

Sampler::Sampler(const SamplingOptions& options) : options_(options), state_(options.seed) {
  if (options.temperature < 0 || options.top_k < 0 || !(options.top_p > 0 && options.top_p <= 1))
    fail(Status::kInvalidArgument, "sampling: temperature must be >= 0, top_k >= 0 and 0 < top_p <= 1");
}

double Sampler::uniform() {
  // splitmix64: small, fast, and the same sequence everywhere
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * (1.0 / 9007199254740992.0);
}

int32_t Sampler::pick(const float* logits, int64_t vocab) {
  if (options_.temperature == 0) return argmax(logits, vocab);
  // candidates, most likely first
  std::vector<std::pair<int32_t, float>> c = top_logits(logits, vocab, options_.top_k > 0 ? options_.top_k : vocab);
  std::vector<double> p(c.size());
  const double top = c[0].second / options_.temperature;
  double sum = 0;
  for (size_t i = 0; i < c.size(); ++i) sum += (p[i] = std::exp(c[i].second / options_.temperature - top));
  size_t keep = c.size();
  if (options_.top_p < 1) {  // the smallest head whose probability reaches top_p (at least one token)
    double cumulative = 0;
    for (size_t i = 0; i < c.size(); ++i) {
      cumulative += p[i] / sum;
      if (cumulative >= options_.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  double kept = 0;
  for (size_t i = 0; i < keep; ++i) kept += p[i];
  double r = uniform() * kept;
  for (size_t i = 0; i < keep; ++i) {
    if ((r -= p[i]) < 0) return c[i].first;
  }
  return c[keep - 1].first;
}

}  // namespace mb::engine
