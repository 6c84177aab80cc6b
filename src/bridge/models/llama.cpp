// Llama 2, 3, 3.1 (llama3 rope scaling), 3.2 (tied embeddings): LlamaForCausalLM.
#include "bridge/models/llama_like.h"
#include "bridge/registry.h"
#include "core/error.h"

namespace mb::bridge {

const Family& llama_family() {
  static const Family f = [] {
    Family f;
    f.name = "llama";
    f.description = "Llama 2 / 3 / 3.1 / 3.2 (GQA, llama3 rope scaling, tied embeddings)";
    f.architectures = {"LlamaForCausalLM"};
    f.model_types = {"llama"};
    f.config_from_hf = [](const HfConfig& h) {
      if (h.mlp_bias) fail(Status::kUnsupported, h.source, ": Llama with mlp_bias is not supported");
      if (h.attention_bias)
        fail(Status::kUnsupported, h.source, ": Llama with attention_bias (biases on q, k, v and o_proj) is not supported");
      return llama_like_config(h, "llama");
    };
    f.hf_config_for = [](const ModelConfig& c) {
      json::Value v = llama_like_hf_config(c, "LlamaForCausalLM", "llama");
      v.set("attention_bias", false);
      v.set("mlp_bias", false);
      return v;
    };
    f.mappings = llama_dense_mappings(false, false);
    f.ignored = llama_ignored();
    return f;
  }();
  return f;
}

}  // namespace mb::bridge
