// Rotary position embedding frequencies, shared by every backend so they rotate by the same angles:
// the default schedule base^(-2i/d), and the linear, llama3 and yarn rescalings of transformers.
#pragma once

#include <string>
#include <vector>

#include "bridge/model_config.h"

namespace mb::engine {

// One inverse frequency per pair of a head's dimensions (kv_channels / 2 of them); kUnsupported for a
// rope scaling type no backend implements.
std::vector<float> rotary_inverse_frequencies(const bridge::ModelConfig& config, const std::string& where);

// What the rotated values are multiplied by (transformers' attention_scaling, applied to cos and sin): 1 except
// for yarn, where it is the attention factor (DeepSeek's mscale / mscale_all_dim ratio, which is 1 for its
// released models; 0.1 ln(factor) + 1 for other yarn models unless given).
double rotary_attention_factor(const bridge::ModelConfig& config);

}  // namespace mb::engine
