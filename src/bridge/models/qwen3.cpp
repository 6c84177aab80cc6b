// Qwen3: Qwen3ForCausalLM, Llama tensors plus RMSNorm on queries and keys; head_dim need not be
// hidden_size / num_attention_heads.
#include "bridge/models/llama_like.h"
#include "bridge/registry.h"
#include "core/error.h"

namespace mb::bridge {

const Family& qwen3_family() {
  static const Family f = [] {
    Family f;
    f.name = "qwen3";
    f.description = "Qwen3 (q/k norm, free head_dim)";
    f.architectures = {"Qwen3ForCausalLM"};
    f.model_types = {"qwen3"};
    f.config_from_hf = [](const HfConfig& h) {
      if (h.attention_bias) fail(Status::kUnsupported, h.source, ": Qwen3 with attention_bias is not supported");
      ModelConfig c = llama_like_config(h, "qwen3");
      c.qk_layernorm = true;
      return c;
    };
    f.hf_config_for = [](const ModelConfig& c) {
      json::Value v = llama_like_hf_config(c, "Qwen3ForCausalLM", "qwen3");
      v.set("attention_bias", false);
      return v;
    };
    f.mappings = llama_dense_mappings(false, true);
    return f;
  }();
  return f;
}

}  // namespace mb::bridge
