// What GPT-2 and BERT share besides their tensor names: LayerNorm with biases, learned absolute positions, a
// bias on every linear layer (q, k and v included), and a plain (not gated) MLP whose GELU is exact or
// tanh-approximated.
#pragma once

#include "bridge/family.h"

namespace mb::bridge {

// Sets those on c (whose family is already named), the activation read from config.json's `key` (`fallback`
// when absent): gelu -> "gelu"; gelu_new, gelu_pytorch_tanh -> "gelu_tanh"; anything else is refused.
void set_plain_block(ModelConfig* c, const HfConfig& h, const char* key, const char* fallback);

// The config.json name of c's activation: "gelu" or "gelu_new".
const char* plain_block_hf_activation(const ModelConfig& c);

}  // namespace mb::bridge
