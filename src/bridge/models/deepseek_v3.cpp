// DeepSeek-V3 (DeepseekV3ForCausalLM; DeepSeek-V2-style models saved as deepseek_v3 too): multi-latent
// attention (q through a low-rank projection, keys and values from one compressed latent plus a shared
// rotary key), the first first_k_dense_replace layers dense, the rest a mixture of experts with shared experts
// and a sigmoid router that chooses among the best expert groups. Megatron names as Megatron-Bridge's DeepSeek
// bridges write them (models/deepseek/common.py); config fields as its MLA provider sets them.
#include <algorithm>

#include "bridge/models/llama_like.h"
#include "bridge/registry.h"
#include "core/error.h"

namespace mb::bridge {
namespace {

std::string layer_name(const std::string& rest) { return "model.layers.{layer}." + rest; }

ModelConfig deepseek_config(const HfConfig& h) {
  ModelConfig c = llama_like_config(h, "deepseek_v3");
  const std::string& src = h.source;
  auto need_int = [&](const char* key) {
    std::optional<int64_t> v = h.integer(key);
    if (!v) fail_format(src, "DeepSeek-V3 config without ", key);
    return *v;
  };
  c.mla = true;
  c.q_lora_rank = h.integer("q_lora_rank").value_or(0);  // null: one q projection
  c.kv_lora_rank = need_int("kv_lora_rank");
  c.qk_head_dim = need_int("qk_nope_head_dim");
  c.qk_pos_emb_head_dim = need_int("qk_rope_head_dim");
  c.v_head_dim = need_int("v_head_dim");
  c.num_query_groups = c.num_attention_heads;  // every head has its own key and value
  c.kv_channels = c.q_head_dim();
  if (h.attention_bias)
    fail(Status::kUnsupported, src, ": DeepSeek-V3 with attention_bias (biases on the down projections)");
  if (!h.boolean("rope_interleave").value_or(true))
    fail(Status::kUnsupported, src, ": DeepSeek-V3 with rope_interleave false (Megatron-Core's MLA rotates "
                                    "interleaved pairs)");

  c.num_experts = h.integer("n_routed_experts").value_or(0);
  if (c.num_experts > 0) {
    c.moe_router_topk = need_int("num_experts_per_tok");
    c.moe_ffn_hidden_size = need_int("moe_intermediate_size");
    c.moe_renormalize = h.boolean("norm_topk_prob").value_or(true);
    c.moe_shared_expert_ffn = h.integer("n_shared_experts").value_or(0) * c.moe_ffn_hidden_size;
    c.moe_score_function = "sigmoid";
    c.moe_expert_bias = true;
    c.moe_router_num_groups = h.integer("n_group").value_or(1);
    c.moe_router_group_topk = h.integer("topk_group").value_or(1);
    c.moe_router_topk_scaling = h.number("routed_scaling_factor").value_or(1.0);
    const int64_t dense = h.integer("first_k_dense_replace").value_or(0);
    if (h.integer("moe_layer_freq").value_or(1) != 1)
      fail(Status::kUnsupported, src, ": DeepSeek-V3 with moe_layer_freq != 1 (dense layers between MoE ones)");
    if (dense < 0 || dense > c.num_layers) fail_format(src, "first_k_dense_replace ", dense, " is out of range");
    c.moe_layers.assign(static_cast<size_t>(c.num_layers), true);
    for (int64_t l = 0; l < dense; ++l) c.moe_layers[static_cast<size_t>(l)] = false;
  }
  return c;
}

json::Value deepseek_hf_config(const ModelConfig& c) {
  json::Value v = llama_like_hf_config(c, "DeepseekV3ForCausalLM", "deepseek_v3");
  v.set("head_dim", c.qk_pos_emb_head_dim);  // transformers' rotary size
  v.set("q_lora_rank", c.q_lora_rank > 0 ? json::Value(c.q_lora_rank) : json::Value());
  v.set("kv_lora_rank", c.kv_lora_rank);
  v.set("qk_nope_head_dim", c.qk_head_dim);
  v.set("qk_rope_head_dim", c.qk_pos_emb_head_dim);
  v.set("qk_head_dim", c.q_head_dim());
  v.set("v_head_dim", c.v_head_dim);
  v.set("rope_interleave", true);
  v.set("attention_bias", false);
  int64_t dense = 0;
  while (dense < c.num_layers && !c.is_moe_layer(dense)) ++dense;
  v.set("first_k_dense_replace", dense);
  v.set("n_routed_experts", c.num_experts);
  v.set("num_experts_per_tok", c.moe_router_topk);
  v.set("moe_intermediate_size", c.moe_ffn_hidden_size);
  v.set("n_shared_experts", c.moe_ffn_hidden_size > 0 ? c.moe_shared_expert_ffn / c.moe_ffn_hidden_size : 0);
  v.set("norm_topk_prob", c.moe_renormalize);
  v.set("n_group", std::max<int64_t>(c.moe_router_num_groups, 1));
  v.set("topk_group", std::max<int64_t>(c.moe_router_group_topk, 1));
  v.set("routed_scaling_factor", c.moe_router_topk_scaling.value_or(1.0));
  return v;
}

}  // namespace

const Family& deepseek_v3_family() {
  static const Family f = [] {
    Family f;
    f.name = "deepseek_v3";
    f.description = "DeepSeek-V3 (multi-latent attention, shared + routed experts, first layers dense)";
    f.architectures = {"DeepseekV3ForCausalLM"};
    f.model_types = {"deepseek_v3"};
    f.config_from_hf = deepseek_config;
    f.hf_config_for = deepseek_hf_config;
    f.mappings = {
        {ParamKind::kEmbedding, HfRule::kDirect, {"model.embed_tokens.weight"}},
        {ParamKind::kOutput, HfRule::kDirect, {"lm_head.weight"}},
        {ParamKind::kFinalNorm, HfRule::kDirect, {"model.norm.weight"}},
        {ParamKind::kInputNorm, HfRule::kDirect, {layer_name("input_layernorm.weight")}},
        {ParamKind::kQDown, HfRule::kDirect, {layer_name("self_attn.q_a_proj.weight")}},
        {ParamKind::kQUpNorm, HfRule::kDirect, {layer_name("self_attn.q_a_layernorm.weight")}},
        {ParamKind::kQUp, HfRule::kDirect, {layer_name("self_attn.q_b_proj.weight")}},
        {ParamKind::kQProj, HfRule::kDirect, {layer_name("self_attn.q_proj.weight")}},
        {ParamKind::kKvDown, HfRule::kDirect, {layer_name("self_attn.kv_a_proj_with_mqa.weight")}},
        {ParamKind::kKvUpNorm, HfRule::kDirect, {layer_name("self_attn.kv_a_layernorm.weight")}},
        {ParamKind::kKvUp, HfRule::kDirect, {layer_name("self_attn.kv_b_proj.weight")}},
        {ParamKind::kProj, HfRule::kDirect, {layer_name("self_attn.o_proj.weight")}},
        {ParamKind::kPreMlpNorm, HfRule::kDirect, {layer_name("post_attention_layernorm.weight")}},
        {ParamKind::kFc1, HfRule::kGated, {layer_name("mlp.gate_proj.weight"), layer_name("mlp.up_proj.weight")}},
        {ParamKind::kFc2, HfRule::kDirect, {layer_name("mlp.down_proj.weight")}},
        {ParamKind::kRouter, HfRule::kDirect, {layer_name("mlp.gate.weight")}},
        {ParamKind::kRouterBias, HfRule::kDirect, {layer_name("mlp.gate.e_score_correction_bias")}},
        {ParamKind::kExpertFc1, HfRule::kGated,
         {layer_name("mlp.experts.{expert}.gate_proj.weight"), layer_name("mlp.experts.{expert}.up_proj.weight")}},
        {ParamKind::kExpertFc2, HfRule::kDirect, {layer_name("mlp.experts.{expert}.down_proj.weight")}},
        {ParamKind::kSharedFc1, HfRule::kGated,
         {layer_name("mlp.shared_experts.gate_proj.weight"), layer_name("mlp.shared_experts.up_proj.weight")}},
        {ParamKind::kSharedFc2, HfRule::kDirect, {layer_name("mlp.shared_experts.down_proj.weight")}},
    };
    f.ignored = llama_ignored();
    return f;
  }();
  return f;
}

}  // namespace mb::bridge
