// Gemma 2 (Gemma2ForCausalLM): Gemma's tensors and forward pass (1 + w norms, GeGLU, embeddings scaled by
// sqrt(hidden)) plus a norm on each branch's output before the residual add (the "sandwich": Hugging Face's
// post_attention_layernorm and post_feedforward_layernorm, with pre_feedforward_layernorm before the MLP),
// attention scores scaled by 1/sqrt(query_pre_attn_scalar), attention scores and final logits soft-capped,
// and sliding-window attention on the layers layer_types names (every other one, from the first, by default).
#include <cmath>

#include "bridge/models/llama_like.h"
#include "bridge/registry.h"
#include "core/error.h"

namespace mb::bridge {

const Family& gemma_family();  // gemma.cpp

namespace {

std::optional<double> positive_or_null(const HfConfig& h, const char* key) {
  const json::Value* v = h.raw.find(key);
  if (!v || v->is_null()) return std::nullopt;
  const std::optional<double> x = h.number(key);
  if (!x || !(*x > 0)) fail_format(h.source, key, " must be a positive number or null");
  return x;
}

// Which layers slide: layer_types when given ("sliding_attention" / "full_attention"), else transformers'
// Gemma-2 default of every other layer from the first.
std::vector<bool> sliding_layers(const HfConfig& h) {
  std::vector<bool> out(static_cast<size_t>(h.num_hidden_layers));
  const json::Value* types = h.raw.find("layer_types");
  if (!types || types->is_null()) {
    for (size_t i = 0; i < out.size(); ++i) out[i] = i % 2 == 0;
    return out;
  }
  if (!types->is_array() || static_cast<int64_t>(types->size()) != h.num_hidden_layers)
    fail_format(h.source, "layer_types must be a list with one entry per layer");
  for (size_t i = 0; i < out.size(); ++i) {
    const json::Value& t = types->items()[i];
    const std::string name = t.is_string() ? t.as_string() : "";
    if (name != "sliding_attention" && name != "full_attention")
      fail(Status::kUnsupported, h.source, ": layer_types[", i, "] is '", name,
           "' (supported: sliding_attention, full_attention)");
    out[i] = name == "sliding_attention";
  }
  return out;
}

}  // namespace

const Family& gemma2_family() {
  static const Family f = [] {
    Family f;
    f.name = "gemma2";
    f.description = "Gemma 2 (Gemma plus sandwich norms, soft-capping, alternating sliding window)";
    f.architectures = {"Gemma2ForCausalLM"};
    f.model_types = {"gemma2"};
    f.config_from_hf = [](const HfConfig& h) {
      ModelConfig c = gemma_family().config_from_hf(h);
      c.family = "gemma2";
      c.sandwich_norms = true;
      c.query_pre_attn_scalar = h.number("query_pre_attn_scalar").value_or(static_cast<double>(c.kv_channels));
      c.attn_logit_softcapping = positive_or_null(h, "attn_logit_softcapping");
      c.final_logit_softcapping = positive_or_null(h, "final_logit_softcapping");
      if (h.sliding_window && *h.sliding_window > 0) {
        c.sliding_window = *h.sliding_window;
        c.sliding_layers = sliding_layers(h);
      }
      return c;
    };
    f.hf_config_for = [](const ModelConfig& c) {
      json::Value v = gemma_family().hf_config_for(c);
      const json::Value header = hf_config_header("Gemma2ForCausalLM", "gemma2");
      for (const char* key : {"architectures", "model_type"}) v.set(key, *header.find(key));
      v.set("query_pre_attn_scalar", c.query_pre_attn_scalar.value_or(static_cast<double>(c.kv_channels)));
      auto number_or_null = [](const std::optional<double>& x) { return x ? json::Value(*x) : json::Value(); };
      v.set("attn_logit_softcapping", number_or_null(c.attn_logit_softcapping));
      v.set("final_logit_softcapping", number_or_null(c.final_logit_softcapping));
      if (c.sliding_window > 0) {
        v.set("sliding_window", c.sliding_window);
        json::Value types = json::Value::array();
        for (bool s : c.sliding_layers) types.push(s ? "sliding_attention" : "full_attention");
        v.set("layer_types", std::move(types));
      }
      return v;
    };
    f.mappings = llama_dense_mappings(false, false);
    for (HfMapping& m : f.mappings)  // Gemma-2's post_attention_layernorm is the attention's own output norm
      if (m.kind == ParamKind::kPreMlpNorm) m.hf = {"model.layers.{layer}.pre_feedforward_layernorm.weight"};
    f.mappings.push_back(
        {ParamKind::kPostAttnNorm, HfRule::kDirect, {"model.layers.{layer}.post_attention_layernorm.weight"}});
    f.mappings.push_back(
        {ParamKind::kPostMlpNorm, HfRule::kDirect, {"model.layers.{layer}.post_feedforward_layernorm.weight"}});
    f.ignored = llama_ignored();
    return f;
  }();
  return f;
}

}  // namespace mb::bridge
