// Rotary position embedding frequencies, shared by every backend so they rotate by the same angles:
// the default schedule base^(-2i/d), and the linear and llama3 rescalings of transformers.
#pragma once

#include <string>
#include <vector>

#include "bridge/model_config.h"

namespace mb::engine {

// One inverse frequency per pair of a head's dimensions (kv_channels / 2 of them); kUnsupported for a
// rope scaling type no backend implements.
std::vector<float> rotary_inverse_frequencies(const bridge::ModelConfig& config, const std::string& where);

}  // namespace mb::engine
