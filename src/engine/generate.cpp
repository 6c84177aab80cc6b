#include "engine/generate.h"

#include <algorithm>

#include "core/error.h"
#include "engine/cpu/cpu_model.h"

namespace mb::engine {

std::vector<std::vector<int32_t>> generate(const CpuModel& model, const std::vector<std::vector<int32_t>>& prompts,
                                           const GenerateOptions& options, const TokenCallback& on_token) {
  if (options.max_new_tokens < 0) fail(Status::kInvalidArgument, "max_new_tokens must be >= 0");
  if (!options.images.empty() && options.images.size() != prompts.size())
    fail(Status::kInvalidArgument, options.images.size(), " image lists for ", prompts.size(), " prompts");
  for (size_t s = 0; s < prompts.size(); ++s)
    if (prompts[s].empty()) fail(Status::kInvalidArgument, "prompt ", s, " is empty");
  const int64_t V = model.config().vocab_size;
  const size_t n = prompts.size();
  std::vector<std::vector<int32_t>> out(n);
  if (options.max_new_tokens == 0) return out;
  // Each step of every sequence is begun before any is finished: a pipeline stage goes on to the next
  // sequence while the later stages take this one (each sequence a micro-batch). Alone, the same work in
  // another order.
  std::vector<CpuCache> caches(n);
  std::vector<Sampler> samplers(n, Sampler(options.sampling));
  std::vector<std::vector<float>> logits(n);
  std::vector<const float*> last(n);
  for (size_t s = 0; s < n; ++s)
    model.forward_start(&caches[s], prompts[s], nullptr, nullptr, s < options.images.size() ? &options.images[s] : nullptr);
  for (size_t s = 0; s < n; ++s) {
    logits[s] = model.forward_finish(&caches[s]);
    last[s] = logits[s].data() + (static_cast<int64_t>(prompts[s].size()) - 1) * V;
  }
  std::vector<bool> going(n, true);
  for (int64_t step = 0;; ++step) {
    for (size_t s = 0; s < n; ++s) {
      if (!going[s]) continue;
      const int32_t token = samplers[s].pick(last[s], V);
      out[s].push_back(token);
      const bool go_on = !on_token || on_token(s, step, token, last[s]);
      if (!go_on || std::find(options.stop_ids.begin(), options.stop_ids.end(), token) != options.stop_ids.end())
        going[s] = false;
    }
    if (step + 1 == options.max_new_tokens || std::none_of(going.begin(), going.end(), [](bool g) { return g; })) break;
    for (size_t s = 0; s < n; ++s)
      if (going[s]) model.forward_start(&caches[s], {out[s].back()});
    for (size_t s = 0; s < n; ++s)
      if (going[s]) {
        logits[s] = model.forward_finish(&caches[s]);
        last[s] = logits[s].data();
      }
  }
  return out;
}

}  // namespace mb::engine
