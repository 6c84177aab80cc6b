// Qwen2.5-VL (Qwen2_5_VLForConditionalGeneration) <-> Megatron-Bridge's Qwen25VLModel: a Qwen2 language model
// (q/k/v biases, multimodal rotary embedding whose sections rotate by time, height and width) as a GPTModel
// under "language_model.", and transformers' own vision tower (patch embedding, window-attention blocks, patch
// merger) inside the Megatron model under its Hugging Face names "visual.*", whole on every tensor-parallel rank
// of the first pipeline stage (Megatron-Bridge's ReplicatedMapping; ParamKind::kVerbatim). Tensors are written
// with the Hub's names ("model.layers.*", "visual.*", "lm_head.weight"), which transformers reads and
// Megatron-Bridge expects; the names transformers uses in memory ("model.language_model.*", "model.visual.*"),
// which some transformers versions saved, are read too.
#include "bridge/models/llama_like.h"
#include "bridge/registry.h"
#include "core/error.h"

namespace mb::bridge {

namespace {

constexpr const char* kVisual = "visual.";

int64_t positive(const HfConfig& h, const char* key, std::optional<int64_t> fallback = std::nullopt) {
  std::optional<int64_t> v = h.integer(key);
  if (!v) v = fallback;
  if (!v || *v <= 0) fail_format(h.source, key, " must be a positive integer");
  return *v;
}

// The tower's tensors, named and shaped as transformers' Qwen2_5_VisionTransformerPretrainedModel holds them.
std::vector<ModelConfig::CarriedTensor> vision_tensors(const HfConfig& v) {
  const int64_t H = positive(v, "hidden_size"), F = positive(v, "intermediate_size"), depth = positive(v, "depth");
  const int64_t heads = positive(v, "num_heads"), out = positive(v, "out_hidden_size");
  const int64_t patch = positive(v, "patch_size", 14), temporal = positive(v, "temporal_patch_size", 2);
  const int64_t merge = positive(v, "spatial_merge_size", 2);
  const int64_t channels = positive(v, "in_channels", v.integer("in_chans").value_or(3));
  if (H % heads) fail_format(v.source, "hidden_size ", H, " is not a multiple of num_heads ", heads);
  const json::Value* act = v.raw.find("hidden_act");
  if (act && act->is_string() && act->as_string() != "silu")
    fail(Status::kUnsupported, v.source, ": a Qwen2.5-VL vision tower with hidden_act ", act->as_string(),
         " (silu is supported)");
  const std::string k = kVisual;
  std::vector<ModelConfig::CarriedTensor> t;
  t.push_back({k + "patch_embed.proj.weight", {H, channels, temporal, patch, patch}});
  for (int64_t b = 0; b < depth; ++b) {
    const std::string p = k + "blocks." + std::to_string(b) + ".";
    t.push_back({p + "norm1.weight", {H}});
    t.push_back({p + "norm2.weight", {H}});
    t.push_back({p + "attn.qkv.weight", {3 * H, H}});
    t.push_back({p + "attn.qkv.bias", {3 * H}});
    t.push_back({p + "attn.proj.weight", {H, H}});
    t.push_back({p + "attn.proj.bias", {H}});
    for (const char* n : {"gate_proj", "up_proj"}) {
      t.push_back({p + "mlp." + n + ".weight", {F, H}});
      t.push_back({p + "mlp." + n + ".bias", {F}});
    }
    t.push_back({p + "mlp.down_proj.weight", {H, F}});
    t.push_back({p + "mlp.down_proj.bias", {H}});
  }
  const int64_t merged = H * merge * merge;
  t.push_back({k + "merger.ln_q.weight", {H}});
  t.push_back({k + "merger.mlp.0.weight", {merged, merged}});
  t.push_back({k + "merger.mlp.0.bias", {merged}});
  t.push_back({k + "merger.mlp.2.weight", {out, merged}});
  t.push_back({k + "merger.mlp.2.bias", {out}});
  return t;
}

// mrope_section from the rope parameters (either spelling): how many rotary frequencies follow the time,
// height and width positions; they add up to half the head size.
std::vector<int64_t> mrope_section(const ModelConfig& c, const std::string& src) {
  const json::Value& raw = c.rope_scaling.raw;
  const json::Value* s = raw.is_object() ? raw.find("mrope_section") : nullptr;
  if (!s || !s->is_array()) fail_format(src, "the rope parameters have no mrope_section");
  std::vector<int64_t> out;
  int64_t sum = 0;
  for (const json::Value& x : s->items()) {
    if (!x.is_number() || x.as_int() <= 0) fail_format(src, "mrope_section must list positive integers");
    out.push_back(x.as_int());
    sum += x.as_int();
  }
  if (out.size() != 3 || sum * 2 != c.kv_channels)
    fail_format(src, "mrope_section must have three parts adding up to half the head size ", c.kv_channels);
  return out;
}

ModelConfig qwen2_5_vl_config(const HfConfig& h) {
  // transformers 5 nests the language model's fields in text_config; the Hub's files have them at the top
  const json::Value* text_raw = h.raw.find("text_config");
  const HfConfig text = text_raw && text_raw->is_object() ? parse_hf_config(*text_raw, h.source + " (text_config)") : h;
  const json::Value* vision_raw = h.raw.find("vision_config");
  if (!vision_raw || !vision_raw->is_object()) fail_format(h.source, "vision_config must be an object");
  const HfConfig vision = parse_hf_config(*vision_raw, h.source + " (vision_config)");

  ModelConfig c = llama_like_config(text, "qwen2_5_vl");
  c.hf_architecture = "Qwen2_5_VLForConditionalGeneration";
  c.qkv_bias = true;
  if (!c.dtype) c.dtype = h.dtype;
  c.tied_embeddings = h.boolean("tie_word_embeddings").value_or(text.tie_word_embeddings);
  c.hf_config = h.raw;
  c.mrope_section = mrope_section(c, h.source);
  c.rope_scaling.type = "default";  // ("mrope" names the sections, not a rescaling of the frequencies)
  c.image_token_index = h.integer("image_token_id").value_or(text.integer("image_token_id").value_or(-1));
  if (c.image_token_index < 0 || c.image_token_index >= c.vocab_size)
    fail_format(h.source, "image_token_id ", c.image_token_index, " is not in the vocabulary of ", c.vocab_size);
  c.verbatim = vision_tensors(vision);
  if (c.verbatim.back().shape[0] != c.hidden_size)
    fail_format(h.source, "the vision tower's out_hidden_size ", c.verbatim.back().shape[0],
                " is not the language model's hidden_size ", c.hidden_size);
  return c;
}

// The config.json the model came from: the vision tower's settings have no other home (Megatron args do not
// describe it), so a checkpoint without its stored config.json cannot be exported.
json::Value qwen2_5_vl_hf_config(const ModelConfig& c) {
  if (!c.hf_config.is_object())
    fail(Status::kUnsupported, "a Qwen2.5-VL config.json can only be written from the one it was read from (the "
                               "checkpoint's stored mbridge_hf/config.json, or --hf-model)");
  return c.hf_config;
}

std::vector<HfMapping> mappings() {
  std::vector<HfMapping> m = llama_dense_mappings(true, false);
  m.push_back({ParamKind::kVerbatim, HfRule::kDirect, {"(named by ModelConfig::verbatim)"}});
  return m;
}

}  // namespace

const Family& qwen2_5_vl_family() {
  static const Family f = [] {
    Family f;
    f.name = "qwen2_5_vl";
    f.description = "Qwen2.5-VL (Qwen2 with multimodal rotary positions; transformers' vision tower kept whole)";
    f.architectures = {"Qwen2_5_VLForConditionalGeneration"};
    f.model_types = {"qwen2_5_vl"};
    f.config_from_hf = qwen2_5_vl_config;
    f.hf_config_for = qwen2_5_vl_hf_config;
    f.mappings = mappings();
    f.ignored = llama_ignored();
    f.alternative_prefixes = {{"model.", "model.language_model."}, {kVisual, "model.visual."}};
    return f;
  }();
  return f;
}

}  // namespace mb::bridge
