// What the Llama-shaped families share: config.json fields and tensor names for embeddings, norms,
// attention and the gated MLP (Mistral, Mixtral, Qwen2/3, Qwen3-MoE and MiniCPM all start from these).
#pragma once

#include <string>
#include <vector>

#include "bridge/family.h"

namespace mb::bridge {

// Reads the fields every Llama-shaped config.json has (both transformers 4 and 5 spellings).
ModelConfig llama_like_config(const HfConfig& h, const std::string& family);

// A config.json's first fields: {"architectures": [architecture], "model_type": model_type} (every family's).
json::Value hf_config_header(const std::string& architecture, const std::string& model_type);

// A transformers-5 config.json for `c` (rope_parameters, dtype), with the given architecture/model_type.
json::Value llama_like_hf_config(const ModelConfig& c, const std::string& architecture, const std::string& model_type);

// embed_tokens, lm_head, model.norm, the two layer norms, q/k/v (+ biases, + q/k norms when asked), o_proj
std::vector<HfMapping> llama_attention_mappings(bool qkv_bias, bool qk_norm);
// The attention mappings above plus gate_proj / up_proj / down_proj of a dense MLP: a whole dense model
std::vector<HfMapping> llama_dense_mappings(bool qkv_bias, bool qk_norm);

// Rotary inverse-frequency buffers older checkpoints carry.
std::vector<std::string> llama_ignored();

}  // namespace mb::bridge
