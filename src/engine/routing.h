// Which experts a token goes to, from its router logits: shared by the CPU reference and the CUDA backend
// (which plans the experts' rows on the host anyway).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "bridge/model_config.h"

namespace mb::engine {

// The chosen experts and their weights for one token's router logits [num_experts]: softmax or sigmoid scores;
// the expert bias (DeepSeek-V3's e_score_correction_bias; may be null) added for the choice only; the group
// limit (experts outside the best moe_router_group_topk groups are not chosen); the top moe_router_topk;
// weights renormalised where the model says so, times the routed scaling factor.
std::vector<std::pair<int64_t, double>> route_token(const bridge::ModelConfig& c, const float* logits,
                                                    const float* expert_bias);

}  // namespace mb::engine
