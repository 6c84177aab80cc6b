#include "bridge/models/llama_like.h"

#include "core/error.h"

namespace mb::bridge {

ModelConfig llama_like_config(const HfConfig& h, const std::string& family) {
  ModelConfig c;
  c.family = family;
  c.hf_architecture = h.architectures.empty() ? "" : h.architectures[0];
  c.num_layers = h.num_hidden_layers;
  c.hidden_size = h.hidden_size;
  c.ffn_hidden_size = h.intermediate_size;
  c.num_attention_heads = h.num_attention_heads;
  c.num_query_groups = h.num_key_value_heads;
  c.kv_channels = h.head_dim;
  c.vocab_size = h.vocab_size;
  c.max_position_embeddings = h.max_position_embeddings;
  c.norm_epsilon = h.rms_norm_eps;
  c.rotary_base = h.rope_theta;
  c.rope_scaling = h.rope_scaling;
  c.tied_embeddings = h.tie_word_embeddings;
  c.qkv_bias = h.attention_bias;
  c.dtype = h.dtype;
  c.hf_config = h.raw;
  return c;
}

json::Value hf_config_header(const std::string& architecture, const std::string& model_type) {
  json::Value v = json::Value::object();
  json::Value arch = json::Value::array();
  arch.push(architecture);
  v.set("architectures", std::move(arch));
  v.set("model_type", model_type);
  return v;
}

namespace {

// The rope parameters of a config read from Megatron args (no config.json to keep them as written)
json::Value rope_fields(const RopeScaling& r) {
  json::Value v = json::Value::object();
  auto number = [&](const char* key, const std::optional<double>& x) {
    if (x) v.set(key, *x);
  };
  number("factor", r.factor);
  number("low_freq_factor", r.low_freq_factor);
  number("high_freq_factor", r.high_freq_factor);
  if (r.original_max_position_embeddings) v.set("original_max_position_embeddings", *r.original_max_position_embeddings);
  number("attention_factor", r.attention_factor);
  number("beta_fast", r.beta_fast);
  number("beta_slow", r.beta_slow);
  number("mscale", r.mscale);
  number("mscale_all_dim", r.mscale_all_dim);
  return v;
}

}  // namespace

json::Value llama_like_hf_config(const ModelConfig& c, const std::string& architecture, const std::string& model_type) {
  json::Value v = hf_config_header(architecture, model_type);
  v.set("hidden_act", "silu");
  v.set("hidden_size", c.hidden_size);
  v.set("intermediate_size", c.ffn_hidden_size);
  v.set("num_hidden_layers", c.num_layers);
  v.set("num_attention_heads", c.num_attention_heads);
  v.set("num_key_value_heads", c.num_query_groups);
  v.set("head_dim", c.kv_channels);
  v.set("vocab_size", c.vocab_size);
  v.set("max_position_embeddings", c.max_position_embeddings);
  v.set("rms_norm_eps", c.norm_epsilon);
  json::Value rope = c.rope_scaling.raw.is_object() ? c.rope_scaling.raw : rope_fields(c.rope_scaling);
  rope.set("rope_theta", c.rotary_base);
  if (!rope.find("rope_type")) rope.set("rope_type", c.rope_scaling.type);
  rope.erase("type");
  v.set("rope_parameters", std::move(rope));
  v.set("tie_word_embeddings", c.tied_embeddings);
  if (c.dtype) v.set("dtype", dtype_torch_name(*c.dtype));
  v.set("use_cache", true);
  return v;
}

std::vector<HfMapping> llama_attention_mappings(bool qkv_bias, bool qk_norm) {
  std::vector<HfMapping> m = {
      {ParamKind::kEmbedding, HfRule::kDirect, {"model.embed_tokens.weight"}},
      {ParamKind::kOutput, HfRule::kDirect, {"lm_head.weight"}},
      {ParamKind::kFinalNorm, HfRule::kDirect, {"model.norm.weight"}},
      {ParamKind::kInputNorm, HfRule::kDirect, {"model.layers.{layer}.input_layernorm.weight"}},
      {ParamKind::kQkv, HfRule::kQkv,
       {"model.layers.{layer}.self_attn.q_proj.weight", "model.layers.{layer}.self_attn.k_proj.weight",
        "model.layers.{layer}.self_attn.v_proj.weight"}},
      {ParamKind::kProj, HfRule::kDirect, {"model.layers.{layer}.self_attn.o_proj.weight"}},
      {ParamKind::kPreMlpNorm, HfRule::kDirect, {"model.layers.{layer}.post_attention_layernorm.weight"}},
  };
  if (qkv_bias)
    m.push_back({ParamKind::kQkvBias, HfRule::kQkv,
                 {"model.layers.{layer}.self_attn.q_proj.bias", "model.layers.{layer}.self_attn.k_proj.bias",
                  "model.layers.{layer}.self_attn.v_proj.bias"}});
  if (qk_norm) {
    m.push_back({ParamKind::kQNorm, HfRule::kDirect, {"model.layers.{layer}.self_attn.q_norm.weight"}});
    m.push_back({ParamKind::kKNorm, HfRule::kDirect, {"model.layers.{layer}.self_attn.k_norm.weight"}});
  }
  return m;
}

std::vector<HfMapping> llama_dense_mappings(bool qkv_bias, bool qk_norm) {
  std::vector<HfMapping> m = llama_attention_mappings(qkv_bias, qk_norm);
  m.push_back({ParamKind::kFc1, HfRule::kGated,
               {"model.layers.{layer}.mlp.gate_proj.weight", "model.layers.{layer}.mlp.up_proj.weight"}});
  m.push_back({ParamKind::kFc2, HfRule::kDirect, {"model.layers.{layer}.mlp.down_proj.weight"}});
  return m;
}

std::vector<std::string> llama_ignored() { return {"model.layers.{layer}.self_attn.rotary_emb.inv_freq"}; }

}  // namespace mb::bridge
