// Mistral 7B and relatives: MistralForCausalLM (Llama tensors; sliding window kept in the config).
#include "bridge/models/llama_like.h"
#include "bridge/registry.h"

namespace mb::bridge {

const Family& mistral_family() {
  static const Family f = [] {
    Family f;
    f.name = "mistral";
    f.description = "Mistral (GQA, sliding window)";
    f.architectures = {"MistralForCausalLM"};
    f.model_types = {"mistral"};
    f.config_from_hf = [](const HfConfig& h) { return llama_like_config(h, "mistral"); };
    f.hf_config_for = [](const ModelConfig& c) { return llama_like_hf_config(c, "MistralForCausalLM", "mistral"); };
    f.mappings = llama_dense_mappings(false, false);
    f.ignored = llama_ignored();
    return f;
  }();
  return f;
}

}  // namespace mb::bridge
