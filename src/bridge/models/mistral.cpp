// Mistral 7B and relatives: MistralForCausalLM (Llama tensors). A sliding_window (Mistral-7B-v0.1: 4096; null in
// later versions) applies to every layer, as transformers' Mistral masks it: a position sees itself and the
// sliding_window - 1 before it.
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
    f.config_from_hf = [](const HfConfig& h) {
      ModelConfig c = llama_like_config(h, "mistral");
      if (h.sliding_window && *h.sliding_window > 0) {
        c.sliding_window = *h.sliding_window;
        c.sliding_layers.assign(static_cast<size_t>(c.num_layers), true);
      }
      return c;
    };
    f.hf_config_for = [](const ModelConfig& c) {
      json::Value v = llama_like_hf_config(c, "MistralForCausalLM", "mistral");
      v.set("sliding_window", c.sliding_window > 0 ? json::Value(c.sliding_window) : json::Value());
      return v;
    };
    f.mappings = llama_dense_mappings(false, false);
    f.ignored = llama_ignored();
    return f;
  }();
  return f;
}

}  // namespace mb::bridge
