// Generation on the CPU reference: the prompt in one forward pass, then one token at a time from the
// key/value cache, each chosen by the sampler, until a stop id or max_new_tokens. Several prompts of
// different lengths are generated side by side, each with its own cache, step by step (the callback sees
// step 0 of every sequence, then step 1, ...); a pipeline stage begins the next sequence's step while the
// later stages take this one's.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "engine/image.h"
#include "engine/sampling.h"

namespace mb::engine {

class CpuModel;

struct GenerateOptions {
  int64_t max_new_tokens = 16;
  SamplingOptions sampling;
  std::vector<int32_t> stop_ids;  // generation of a sequence ends after one of these (kept in the output)
  // Per prompt, the images its image tokens stand for (LLaVA: each image fills image_tokens() of them, in
  // order); empty: no prompt has images.
  std::vector<std::vector<Image>> images;
};

// Called for every chosen token: the sequence, the step (0 for the first new token), the token and the logits
// it was chosen from (vocab_size of them; null after step 0 on a backend that chooses tokens on the device, as
// the CUDA backend does). Returning false stops that sequence.
using TokenCallback = std::function<bool(size_t sequence, int64_t step, int32_t token, const float* logits)>;

// The new tokens of each prompt.
std::vector<std::vector<int32_t>> generate(const CpuModel& model, const std::vector<std::vector<int32_t>>& prompts,
                                           const GenerateOptions& options, const TokenCallback& on_token = {});

}  // namespace mb::engine
