// Mixtral: MixtralForCausalLM. Every layer's MLP is a router ("block_sparse_moe.gate") and experts with
// w1 (gate), w3 (up) and w2 (down); top-k probabilities are renormalised.
#include "bridge/models/llama_like.h"
#include "bridge/registry.h"
#include "core/error.h"

namespace mb::bridge {

const Family& mixtral_family() {
  static const Family f = [] {
    Family f;
    f.name = "mixtral";
    f.description = "Mixtral (mixture of experts, top-k renormalised)";
    f.architectures = {"MixtralForCausalLM"};
    f.model_types = {"mixtral"};
    f.config_from_hf = [](const HfConfig& h) {
      ModelConfig c = llama_like_config(h, "mixtral");
      c.num_experts = h.num_experts;
      c.moe_router_topk = h.num_experts_per_tok;
      c.moe_ffn_hidden_size = h.intermediate_size;
      c.moe_renormalize = true;
      if (c.num_experts <= 0) fail_format(h.source, "Mixtral config without num_local_experts");
      return c;
    };
    f.hf_config_for = [](const ModelConfig& c) {
      json::Value v = llama_like_hf_config(c, "MixtralForCausalLM", "mixtral");
      v.set("intermediate_size", c.moe_ffn_hidden_size);
      v.set("num_local_experts", c.num_experts);
      v.set("num_experts_per_tok", c.moe_router_topk);
      return v;
    };
    f.mappings = llama_attention_mappings(false, false);
    f.mappings.push_back({ParamKind::kRouter, HfRule::kDirect, {"model.layers.{layer}.block_sparse_moe.gate.weight"}});
    f.mappings.push_back({ParamKind::kExpertFc1, HfRule::kGated,
                          {"model.layers.{layer}.block_sparse_moe.experts.{expert}.w1.weight",
                           "model.layers.{layer}.block_sparse_moe.experts.{expert}.w3.weight"}});
    f.mappings.push_back({ParamKind::kExpertFc2, HfRule::kDirect,
                          {"model.layers.{layer}.block_sparse_moe.experts.{expert}.w2.weight"}});
    f.ignored = llama_ignored();
    return f;
  }();
  return f;
}

}  // namespace mb::bridge
