// Gemma (GemmaForCausalLM): Llama tensors under Llama names, with three differences in the forward pass that
// the weights do not show: RMSNorm weights are stored as w and applied as (1 + w) (Megatron-Core's
// layernorm_zero_centered_gamma stores the same w, so the tensors copy as they are), the gated MLP is GeGLU
// with the tanh-approximated GELU, and the embeddings are multiplied by sqrt(hidden_size).
#include <cmath>

#include "bridge/models/llama_like.h"
#include "bridge/registry.h"
#include "core/error.h"

namespace mb::bridge {

namespace {

// transformers reads hidden_activation (Gemma's own key), else hidden_act; both name the tanh GELU in every
// released Gemma. An exact-erf GELU would give other logits, so it is refused rather than approximated.
std::string gemma_activation(const HfConfig& h) {
  const json::Value* v = h.raw.find("hidden_activation");
  if (!v || v->is_null()) v = h.raw.find("hidden_act");
  const std::string name = v && v->is_string() ? v->as_string() : "gelu_pytorch_tanh";
  if (name != "gelu_pytorch_tanh" && name != "gelu_tanh")
    fail(Status::kUnsupported, h.source, ": Gemma with hidden activation '", name, "' (supported: gelu_pytorch_tanh)");
  return "gelu_tanh";
}

}  // namespace

const Family& gemma_family() {
  static const Family f = [] {
    Family f;
    f.name = "gemma";
    f.description = "Gemma (1 + w norms, GeGLU, embeddings scaled by sqrt(hidden))";
    f.architectures = {"GemmaForCausalLM"};
    f.model_types = {"gemma"};
    f.config_from_hf = [](const HfConfig& h) {
      if (h.attention_bias) fail(Status::kUnsupported, h.source, ": Gemma with attention_bias is not supported");
      ModelConfig c = llama_like_config(h, "gemma");
      c.mlp_activation = gemma_activation(h);
      c.norm_one_centered = true;
      c.scale_emb = std::sqrt(static_cast<double>(c.hidden_size));
      return c;
    };
    f.hf_config_for = [](const ModelConfig& c) {
      json::Value v = llama_like_hf_config(c, "GemmaForCausalLM", "gemma");
      v.set("hidden_act", "gelu_pytorch_tanh");
      v.set("hidden_activation", "gelu_pytorch_tanh");
      v.set("attention_bias", false);
      return v;
    };
    f.mappings = llama_dense_mappings(false, false);
    f.ignored = llama_ignored();
    return f;
  }();
  return f;
}

}  // namespace mb::bridge
