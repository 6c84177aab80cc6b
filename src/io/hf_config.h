// A Hugging Face config.json, read in either spelling:
//   transformers 4: "rope_theta", "rope_scaling": {"rope_type"|"type", ...}, "torch_dtype"
//   transformers 5: "rope_parameters": {"rope_theta", "rope_type", ...}, "dtype"
// into one normalised view. The raw JSON is kept whole, so nothing a model family needs is lost.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "io/json.h"

namespace mb {

struct RopeScaling {
  std::string type = "default";  // default, linear, dynamic, llama3, yarn, longrope, ...
  std::optional<double> factor;
  std::optional<double> low_freq_factor;   // llama3
  std::optional<double> high_freq_factor;  // llama3
  std::optional<int64_t> original_max_position_embeddings;
  std::optional<double> attention_factor;  // yarn, longrope
  std::optional<double> beta_fast;         // yarn
  std::optional<double> beta_slow;         // yarn
  std::optional<double> mscale;            // yarn (DeepSeek): attention_factor's numerator scale
  std::optional<double> mscale_all_dim;    // yarn (DeepSeek): its denominator, and the softmax scale's
  std::optional<bool> truncate;            // yarn: round the correction range outwards (default true)
  std::vector<double> short_factor;        // longrope
  std::vector<double> long_factor;         // longrope
  json::Value raw;                         // the object as written (null when absent)
};

struct HfConfig {
  json::Value raw;
  std::string source;
  bool transformers5_style = false;  // rope_parameters / dtype spelling

  std::vector<std::string> architectures;
  std::string model_type;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;  // defaults to num_attention_heads
  int64_t head_dim = 0;             // defaults to hidden_size / num_attention_heads
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  std::optional<DType> dtype;
  bool attention_bias = false;
  bool mlp_bias = false;
  std::optional<int64_t> sliding_window;
  // mixture of experts (0 when dense)
  int64_t num_experts = 0;
  int64_t num_experts_per_tok = 0;
  int64_t moe_intermediate_size = 0;
  // MiniCPM muP scales
  std::optional<double> scale_emb;
  std::optional<double> scale_depth;
  std::optional<double> dim_model_base;

  // Typed access to any other field, with the file named in errors.
  std::optional<double> number(const std::string& key) const;
  std::optional<int64_t> integer(const std::string& key) const;
  std::optional<bool> boolean(const std::string& key) const;
};

HfConfig parse_hf_config(const json::Value& raw, const std::string& source);
// `path`: a config.json, or the folder holding one.
HfConfig load_hf_config(const std::string& path);

// The eos_token_id of `folder`'s generation_config.json (a number or a list): the ids generation stops at.
// Empty when the file or the field is absent.
std::vector<int32_t> generation_eos_ids(const std::string& folder);

}  // namespace mb
