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
  const int64_t V = model.config().vocab_size;
  std::vector<std::vector<int32_t>> out(prompts.size());
  for (size_t s = 0; s < prompts.size(); ++s) {
    if (prompts[s].empty()) fail(Status::kInvalidArgument, "prompt ", s, " is empty");
    Sampler sampler(options.sampling);
    CpuCache cache;
    const std::vector<Image>* images = s < options.images.size() ? &options.images[s] : nullptr;
    std::vector<float> logits = model.forward(&cache, prompts[s], nullptr, nullptr, images);
    const float* last = logits.data() + (static_cast<int64_t>(prompts[s].size()) - 1) * V;
    for (int64_t step = 0; step < options.max_new_tokens; ++step) {
      const int32_t token = sampler.pick(last, V);
      out[s].push_back(token);
      bool go_on = !on_token || on_token(s, step, token, last);
      if (!go_on || std::find(options.stop_ids.begin(), options.stop_ids.end(), token) != options.stop_ids.end()) break;
      if (step + 1 == options.max_new_tokens) break;
      logits = model.forward(&cache, {token});
      last = logits.data();
    }
  }
  return out;
}

}  // namespace mb::engine
