// Qwen2 / Qwen2.5: Qwen2ForCausalLM, Llama tensors plus biases on q, k and v.
#include "bridge/models/llama_like.h"
#include "bridge/registry.h"

namespace mb::bridge {

const Family& qwen2_family() {
  static const Family f = [] {
    Family f;
    f.name = "qwen2";
    f.description = "Qwen2 / Qwen2.5 (q/k/v biases)";
    f.architectures = {"Qwen2ForCausalLM"};
    f.model_types = {"qwen2"};
    f.config_from_hf = [](const HfConfig& h) {
      ModelConfig c = llama_like_config(h, "qwen2");
      c.qkv_bias = true;  // Qwen2 always has them (its config has no attention_bias field)
      return c;
    };
    f.hf_config_for = [](const ModelConfig& c) { return llama_like_hf_config(c, "Qwen2ForCausalLM", "qwen2"); };
    f.mappings = llama_dense_mappings(true, false);
    return f;
  }();
  return f;
}

}  // namespace mb::bridge
