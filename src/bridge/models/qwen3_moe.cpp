// Qwen3-MoE: Qwen3MoeForCausalLM, Qwen3 attention (q/k norm) with a router ("mlp.gate") and experts
// (gate_proj, up_proj, down_proj) in every layer.
#include "bridge/models/llama_like.h"
#include "bridge/registry.h"
#include "core/error.h"

namespace mb::bridge {

const Family& qwen3_moe_family() {
  static const Family f = [] {
    Family f;
    f.name = "qwen3_moe";
    f.description = "Qwen3-MoE (q/k norm, mixture of experts in every layer)";
    f.architectures = {"Qwen3MoeForCausalLM"};
    f.model_types = {"qwen3_moe"};
    f.config_from_hf = [](const HfConfig& h) {
      ModelConfig c = llama_like_config(h, "qwen3_moe");
      c.qk_layernorm = true;
      c.num_experts = h.num_experts;
      c.moe_router_topk = h.num_experts_per_tok;
      c.moe_ffn_hidden_size = h.moe_intermediate_size;
      c.moe_renormalize = h.boolean("norm_topk_prob").value_or(false);
      if (c.num_experts <= 0) fail_format(h.source, "Qwen3-MoE config without num_experts");
      if (h.integer("decoder_sparse_step").value_or(1) != 1)
        fail(Status::kUnsupported, h.source, ": Qwen3-MoE with decoder_sparse_step != 1 (dense layers between MoE ones)");
      if (const json::Value* dense = h.raw.find("mlp_only_layers"); dense && dense->is_array() && dense->size() > 0)
        fail(Status::kUnsupported, h.source, ": Qwen3-MoE with mlp_only_layers (dense layers) is not supported");
      return c;
    };
    f.hf_config_for = [](const ModelConfig& c) {
      json::Value v = llama_like_hf_config(c, "Qwen3MoeForCausalLM", "qwen3_moe");
      v.set("num_local_experts", c.num_experts);
      v.set("num_experts_per_tok", c.moe_router_topk);
      v.set("moe_intermediate_size", c.moe_ffn_hidden_size);
      v.set("norm_topk_prob", c.moe_renormalize);
      v.set("decoder_sparse_step", 1);
      v.set("mlp_only_layers", json::Value::array());
      v.set("attention_bias", false);
      return v;
    };
    f.mappings = llama_attention_mappings(false, true);
    f.mappings.push_back({ParamKind::kRouter, HfRule::kDirect, {"model.layers.{layer}.mlp.gate.weight"}});
    f.mappings.push_back({ParamKind::kExpertFc1, HfRule::kGated,
                          {"model.layers.{layer}.mlp.experts.{expert}.gate_proj.weight",
                           "model.layers.{layer}.mlp.experts.{expert}.up_proj.weight"}});
    f.mappings.push_back({ParamKind::kExpertFc2, HfRule::kDirect,
                          {"model.layers.{layer}.mlp.experts.{expert}.down_proj.weight"}});
    return f;
  }();
  return f;
}

}  // namespace mb::bridge
