#include "bridge/megatron_names.h"

#include <cstdlib>

#include "core/error.h"

namespace mb::bridge {

NameStyle name_style(const ModelConfig& c, int layer) {
  return {layer >= 0 ? c.is_moe_layer(layer) : c.is_moe(), c.encoder, c.mla, c.multimodal()};
}

std::string language_prefix(const NameStyle& style) { return style.multimodal ? "language_model." : ""; }

namespace {

// BertModel's TransformerBlock is "encoder": the same names under another prefix.
std::string in_stack(std::string key, const NameStyle& style) {
  if (style.encoder && key.compare(0, 8, "decoder.") == 0) key.replace(0, 8, "encoder.");
  return key;
}

// A multi-latent-attention layer's names after "decoder.layers.", where they differ from the others': its
// norms are modules of their own in both specs (the local spec has no fused-name map for MLA layers), except
// Transformer Engine's fused q/kv up-projection norms and a dense layer's norm fused into linear_fc1.
std::string mla_layer_key(ParamKind kind, bool moe, MegatronSpec spec) {
  const bool te = spec == MegatronSpec::kTransformerEngine;
  switch (kind) {
    case ParamKind::kInputNorm: return "input_layernorm.weight";
    case ParamKind::kPreMlpNorm: return te && !moe ? "mlp.linear_fc1.layer_norm_weight" : "pre_mlp_layernorm.weight";
    case ParamKind::kQDown: return "self_attention.linear_q_down_proj.weight";
    case ParamKind::kQUpNorm:
      return te ? "self_attention.linear_q_up_proj.layer_norm_weight" : "self_attention.q_layernorm.weight";
    case ParamKind::kQUp: return "self_attention.linear_q_up_proj.weight";
    case ParamKind::kQProj: return "self_attention.linear_q_proj.weight";
    case ParamKind::kKvDown: return "self_attention.linear_kv_down_proj.weight";
    case ParamKind::kKvUpNorm:
      return te ? "self_attention.linear_kv_up_proj.layer_norm_weight" : "self_attention.kv_layernorm.weight";
    case ParamKind::kKvUp: return "self_attention.linear_kv_up_proj.weight";
    default: return "";
  }
}

// LLaVA's tower parts that are not layers (Megatron-Core's CLIPViTModel and MultimodalProjector); "" otherwise.
std::string vision_key(ParamKind kind) {
  switch (kind) {
    case ParamKind::kVisionPatchEmbedding: return "vision_model.conv1.weight";
    case ParamKind::kVisionClassToken: return "vision_model.class_token";
    case ParamKind::kVisionPositionEmbedding: return "vision_model.position_embeddings.weight";
    case ParamKind::kVisionPreNorm: return "vision_model.ln_pre.weight";
    case ParamKind::kVisionPreNormBias: return "vision_model.ln_pre.bias";
    case ParamKind::kProjectorFc1: return "vision_projection.encoder.linear_fc1.weight";
    case ParamKind::kProjectorFc1Bias: return "vision_projection.encoder.linear_fc1.bias";
    case ParamKind::kProjectorFc2: return "vision_projection.encoder.linear_fc2.weight";
    case ParamKind::kProjectorFc2Bias: return "vision_projection.encoder.linear_fc2.bias";
    default: return "";
  }
}

std::string decoder_dist_key(ParamKind kind, NameStyle style, MegatronSpec spec) {
  const bool moe = style.moe;
  if (style.mla)
    if (std::string k = mla_layer_key(kind, moe, spec); !k.empty()) return "decoder.layers." + k;
  switch (kind) {
    case ParamKind::kEmbedding: return "embedding.word_embeddings.weight";
    case ParamKind::kOutput: return "output_layer.weight";
    case ParamKind::kFinalNorm: return "decoder.final_layernorm.weight";
    case ParamKind::kInputNorm: return "decoder.layers.self_attention.linear_qkv.layer_norm_weight";
    case ParamKind::kQkv: return "decoder.layers.self_attention.linear_qkv.weight";
    case ParamKind::kQkvBias: return "decoder.layers.self_attention.linear_qkv.bias";
    case ParamKind::kQNorm: return "decoder.layers.self_attention.q_layernorm.weight";
    case ParamKind::kKNorm: return "decoder.layers.self_attention.k_layernorm.weight";
    case ParamKind::kProj: return "decoder.layers.self_attention.linear_proj.weight";
    case ParamKind::kPreMlpNorm:
      // The local spec maps pre_mlp_layernorm onto linear_fc1's name even for MoE layers (fixture
      // mcore/moe_tp1); Transformer Engine's MoE layers keep a separate pre_mlp_layernorm.
      return moe && spec == MegatronSpec::kTransformerEngine ? "decoder.layers.pre_mlp_layernorm.weight"
                                                             : "decoder.layers.mlp.linear_fc1.layer_norm_weight";
    case ParamKind::kFc1: return "decoder.layers.mlp.linear_fc1.weight";
    case ParamKind::kFc2: return "decoder.layers.mlp.linear_fc2.weight";
    case ParamKind::kRouter: return "decoder.layers.mlp.router.weight";
    case ParamKind::kExpertFc1: return "decoder.layers.mlp.experts.experts.linear_fc1.weight";
    case ParamKind::kExpertFc2: return "decoder.layers.mlp.experts.experts.linear_fc2.weight";
    // Gemma-2's norms after each branch, where Megatron-Bridge's Gemma-2 layers keep them (a norm inside the
    // row-parallel linear that ends the branch)
    case ParamKind::kPostAttnNorm: return "decoder.layers.self_attention.linear_proj.post_layernorm.weight";
    case ParamKind::kPostMlpNorm: return "decoder.layers.mlp.linear_fc2.post_layernorm.weight";
    case ParamKind::kPositionEmbedding: return "embedding.position_embeddings.weight";
    case ParamKind::kInputNormBias: return "decoder.layers.self_attention.linear_qkv.layer_norm_bias";
    case ParamKind::kPreMlpNormBias:
      return moe && spec == MegatronSpec::kTransformerEngine ? "decoder.layers.pre_mlp_layernorm.bias"
                                                             : "decoder.layers.mlp.linear_fc1.layer_norm_bias";
    case ParamKind::kFinalNormBias: return "decoder.final_layernorm.bias";
    case ParamKind::kProjBias: return "decoder.layers.self_attention.linear_proj.bias";
    case ParamKind::kFc1Bias: return "decoder.layers.mlp.linear_fc1.bias";
    case ParamKind::kFc2Bias: return "decoder.layers.mlp.linear_fc2.bias";
    case ParamKind::kTokenTypeEmbedding: return "embedding.tokentype_embeddings.weight";
    case ParamKind::kLmHeadDense: return "lm_head.dense.weight";
    case ParamKind::kLmHeadDenseBias: return "lm_head.dense.bias";
    case ParamKind::kLmHeadNorm: return "lm_head.layer_norm.weight";
    case ParamKind::kLmHeadNormBias: return "lm_head.layer_norm.bias";
    case ParamKind::kOutputBias: return "output_layer.bias";
    case ParamKind::kRouterBias: return "decoder.layers.mlp.router.expert_bias";
    case ParamKind::kSharedFc1: return "decoder.layers.mlp.shared_experts.linear_fc1.weight";
    case ParamKind::kSharedFc2: return "decoder.layers.mlp.shared_experts.linear_fc2.weight";
    default: break;  // MLA's (above)
  }
  fail(Status::kInternal, "parameter kind ", kind_name(kind), " has no torch_dist name here");
}

// The modules with an _extra_state in one layer, after "decoder.layers.[<i>.]", apart from the experts'.
std::vector<std::string> layer_modules_with_extra_state(const ModelConfig& c, MegatronSpec spec, int layer) {
  std::vector<std::string> m;
  if (c.mla) {
    if (c.q_lora_rank > 0) {
      m.push_back("self_attention.linear_q_down_proj");
      m.push_back("self_attention.linear_q_up_proj");
    } else {
      m.push_back("self_attention.linear_q_proj");
    }
    m.push_back("self_attention.linear_kv_down_proj");
    m.push_back("self_attention.linear_kv_up_proj");
    m.push_back("self_attention.linear_proj");
  } else {
    m.push_back("self_attention.linear_proj");
    m.push_back("self_attention.linear_qkv");
  }
  if (spec == MegatronSpec::kTransformerEngine) m.push_back("self_attention.core_attention");
  if (!c.is_moe_layer(layer)) {
    m.push_back("mlp.linear_fc1");
    m.push_back("mlp.linear_fc2");
  } else if (c.moe_shared_expert_ffn > 0) {
    m.push_back("mlp.shared_experts.linear_fc1");
    m.push_back("mlp.shared_experts.linear_fc2");
  }
  return m;
}

std::vector<std::string> dist_extra_state_keys_of_decoder(const ModelConfig& c, MegatronSpec spec, int layer) {
  // stacked layers: the layer is the leading offset; layers saved one by one: the layer is in the name
  const bool apart = c.mixed_layers();
  const std::string prefix = apart ? cat("decoder.layers.", layer, ".") : std::string("decoder.layers.");
  const std::string shard = apart ? std::string("/shard_0_1") : cat("/shard_", layer, "_", c.num_layers);
  std::vector<std::string> keys;
  for (const std::string& module : layer_modules_with_extra_state(c, spec, layer))
    keys.push_back(prefix + module + "._extra_state" + shard);
  if (c.is_moe_layer(layer))
    for (int e = 0; e < c.num_experts; ++e)
      for (const char* fc : {"linear_fc1", "linear_fc2"})
        keys.push_back(apart ? cat(prefix, "mlp.experts.experts.", fc, "._extra_state/shard_", e, "_", c.num_experts)
                             : cat(prefix, "mlp.experts.experts.", fc, "._extra_state/shard_", layer, ".", e, "_",
                                   c.num_layers, ".", c.num_experts));
  return keys;
}

std::vector<std::string> legacy_layer_extra_state_keys_of_decoder(const ModelConfig& c, MegatronSpec spec, int i,
                                                                  int global_layer, int local_experts) {
  const std::string layer = "decoder.layers." + std::to_string(i) + ".";
  std::vector<std::string> keys;
  for (const std::string& module : layer_modules_with_extra_state(c, spec, global_layer))
    keys.push_back(layer + module + "._extra_state");
  if (c.is_moe_layer(global_layer)) {
    if (spec == MegatronSpec::kTransformerEngine) {
      keys.push_back(layer + "mlp.experts.linear_fc1._extra_state");
      keys.push_back(layer + "mlp.experts.linear_fc2._extra_state");
    } else {
      for (int e = 0; e < local_experts; ++e) {
        keys.push_back(cat(layer, "mlp.experts.local_experts.", e, ".linear_fc1._extra_state"));
        keys.push_back(cat(layer, "mlp.experts.local_experts.", e, ".linear_fc2._extra_state"));
      }
    }
  }
  return keys;
}

}  // namespace

std::string dist_key(ParamKind kind, NameStyle style, MegatronSpec spec) {
  if (std::string v = vision_key(kind); !v.empty()) return v;
  if (language_twin(kind) != kind)  // a CLIP layer: GPT-2's layer names (not MoE, not MLA) in the tower
    return "vision_model." + decoder_dist_key(language_twin(kind), NameStyle{}, spec);
  return language_prefix(style) + in_stack(decoder_dist_key(kind, style, spec), style);
}

DistName dist_name(const ModelConfig& c, const ParamKey& key, MegatronSpec spec) {
  if (key.kind == ParamKind::kCarried) return {"", false, 0};  // (not in the checkpoint's files)
  if (key.kind == ParamKind::kVerbatim) return {c.verbatim.at(static_cast<size_t>(key.layer)).name, false, 0};
  if (!is_per_layer(key.kind)) return {dist_key(key.kind, name_style(c), spec), false, 0};
  std::string stacked = dist_key(key.kind, name_style(c, key.layer), spec);
  if (language_twin(key.kind) != key.kind) return {stacked, true, c.vision->num_layers};
  if (!c.mixed_layers()) return {stacked, true, c.num_layers};
  const size_t at = stacked.find("layers.") + 7;  // "decoder.layers.X" -> "decoder.layers.<layer>.X"
  return {stacked.insert(at, std::to_string(key.layer) + "."), false, 0};
}

TpSplit tp_split_in(const ParamInfo& p, MegatronSpec spec) {
  const bool down = p.key.kind == ParamKind::kQDown || p.key.kind == ParamKind::kKvDown;
  return down && spec == MegatronSpec::kLocal ? TpSplit::kColumn : p.split;
}

namespace {
std::string legacy_decoder_key(ParamKind kind, int i, int e, NameStyle style, MegatronSpec spec);
}  // namespace

std::string legacy_param_key(const ModelConfig& c, ParamKind kind, int global_layer, int local_layer, int local_expert,
                             MegatronSpec spec) {
  if (kind == ParamKind::kVerbatim) return c.verbatim.at(static_cast<size_t>(global_layer)).name;
  return legacy_key(kind, local_layer, local_expert, name_style(c, global_layer), spec);
}

std::string legacy_key(ParamKind kind, int i, int e, NameStyle style, MegatronSpec spec) {
  if (!is_per_layer(kind)) return dist_key(kind, style, spec);
  if (language_twin(kind) != kind)  // a CLIP layer: GPT-2's layer names in the tower
    return "vision_model." + legacy_key(language_twin(kind), i, e, NameStyle{}, spec);
  return language_prefix(style) + legacy_decoder_key(kind, i, e, style, spec);
}

namespace {

std::string legacy_decoder_key(ParamKind kind, int i, int e, NameStyle style, MegatronSpec spec) {
  const bool te = spec == MegatronSpec::kTransformerEngine, moe = style.moe;
  const std::string layer = in_stack("decoder.layers." + std::to_string(i) + ".", style);
  if (style.mla)
    if (std::string k = mla_layer_key(kind, moe, spec); !k.empty()) return layer + k;
  switch (kind) {
    case ParamKind::kInputNorm:
      return layer + (te ? "self_attention.linear_qkv.layer_norm_weight" : "input_layernorm.weight");
    case ParamKind::kQkv: return layer + "self_attention.linear_qkv.weight";
    case ParamKind::kQkvBias: return layer + "self_attention.linear_qkv.bias";
    case ParamKind::kQNorm: return layer + "self_attention.q_layernorm.weight";
    case ParamKind::kKNorm: return layer + "self_attention.k_layernorm.weight";
    case ParamKind::kProj: return layer + "self_attention.linear_proj.weight";
    case ParamKind::kPreMlpNorm:
      return layer + (te && !moe ? "mlp.linear_fc1.layer_norm_weight" : "pre_mlp_layernorm.weight");
    case ParamKind::kFc1: return layer + "mlp.linear_fc1.weight";
    case ParamKind::kFc2: return layer + "mlp.linear_fc2.weight";
    case ParamKind::kRouter: return layer + "mlp.router.weight";
    case ParamKind::kExpertFc1:
      return te ? layer + "mlp.experts.linear_fc1.weight" + std::to_string(e)
                : layer + "mlp.experts.local_experts." + std::to_string(e) + ".linear_fc1.weight";
    case ParamKind::kExpertFc2:
      return te ? layer + "mlp.experts.linear_fc2.weight" + std::to_string(e)
                : layer + "mlp.experts.local_experts." + std::to_string(e) + ".linear_fc2.weight";
    case ParamKind::kPostAttnNorm: return layer + "self_attention.linear_proj.post_layernorm.weight";
    case ParamKind::kPostMlpNorm: return layer + "mlp.linear_fc2.post_layernorm.weight";
    case ParamKind::kInputNormBias:
      return layer + (te ? "self_attention.linear_qkv.layer_norm_bias" : "input_layernorm.bias");
    case ParamKind::kPreMlpNormBias:
      return layer + (te && !moe ? "mlp.linear_fc1.layer_norm_bias" : "pre_mlp_layernorm.bias");
    case ParamKind::kProjBias: return layer + "self_attention.linear_proj.bias";
    case ParamKind::kFc1Bias: return layer + "mlp.linear_fc1.bias";
    case ParamKind::kFc2Bias: return layer + "mlp.linear_fc2.bias";
    case ParamKind::kRouterBias: return layer + "mlp.router.expert_bias";
    case ParamKind::kSharedFc1: return layer + "mlp.shared_experts.linear_fc1.weight";
    case ParamKind::kSharedFc2: return layer + "mlp.shared_experts.linear_fc2.weight";
    default: break;  // (the rest is not per layer, or MLA's: above)
  }
  fail(Status::kInternal, "unknown parameter kind");
}

}  // namespace

std::vector<std::string> dist_extra_state_keys(const ModelConfig& c, MegatronSpec spec, int layer) {
  std::vector<std::string> keys = dist_extra_state_keys_of_decoder(c, spec, layer);
  for (std::string& k : keys) k = language_prefix(name_style(c)) + in_stack(k, name_style(c));
  return keys;
}

std::vector<std::string> legacy_layer_extra_state_keys(const ModelConfig& c, MegatronSpec spec, int i,
                                                       int global_layer, int local_experts) {
  std::vector<std::string> keys = legacy_layer_extra_state_keys_of_decoder(c, spec, i, global_layer, local_experts);
  for (std::string& k : keys) k = language_prefix(name_style(c)) + in_stack(k, name_style(c));
  return keys;
}

namespace {

// A CLIP layer's modules with an extra state: a GPT-2 layer's (a dense model of one layer kind)
std::vector<std::string> vision_layer_modules(const ModelConfig& c, MegatronSpec spec) {
  return layer_modules_with_extra_state(*c.vision, spec, 0);
}

const char* const kProjectorModules[] = {"vision_projection.encoder.linear_fc1", "vision_projection.encoder.linear_fc2"};

}  // namespace

std::vector<std::string> dist_vision_extra_state_keys(const ModelConfig& c, MegatronSpec spec) {
  std::vector<std::string> keys;
  if (!c.vision) return keys;
  const int64_t layers = c.vision->num_layers;
  for (int64_t l = 0; l < layers; ++l)
    for (const std::string& m : vision_layer_modules(c, spec))
      keys.push_back(cat("vision_model.decoder.layers.", m, "._extra_state/shard_", l, "_", layers));
  for (const char* m : kProjectorModules) keys.push_back(cat(m, "._extra_state/shard_0_1"));
  return keys;
}

std::vector<std::string> legacy_vision_extra_state_keys(const ModelConfig& c, MegatronSpec spec) {
  std::vector<std::string> keys;
  if (!c.vision) return keys;
  for (int64_t l = 0; l < c.vision->num_layers; ++l)
    for (const std::string& m : vision_layer_modules(c, spec))
      keys.push_back(cat("vision_model.decoder.layers.", l, ".", m, "._extra_state"));
  for (const char* m : kProjectorModules) keys.push_back(cat(m, "._extra_state"));
  return keys;
}

namespace {
bool take_prefix(std::string& s, const std::string& prefix) {
  if (s.compare(0, prefix.size(), prefix) != 0) return false;
  s.erase(0, prefix.size());
  return true;
}
bool take_number(std::string& s, int& out) {
  size_t n = 0;
  while (n < s.size() && n < 7 && s[n] >= '0' && s[n] <= '9') ++n;
  if (n == 0) return false;
  out = std::atoi(s.substr(0, n).c_str());
  s.erase(0, n);
  return true;
}
}  // namespace

std::optional<LegacyName> parse_legacy_key(const std::string& full_key) {
  using K = ParamKind;
  // LLaVA: the language model's and the vision tower's layers read as any model's (the spec they tell is the
  // same); the tower's parts outside its layers tell nothing
  std::string key = full_key;
  if (!take_prefix(key, "language_model.")) take_prefix(key, "vision_model.");
  const auto te = MegatronSpec::kTransformerEngine, local = MegatronSpec::kLocal;
  for (K kind : {K::kEmbedding, K::kOutput, K::kFinalNorm, K::kPositionEmbedding, K::kFinalNormBias,
                 K::kTokenTypeEmbedding, K::kLmHeadDense, K::kLmHeadDenseBias, K::kLmHeadNorm, K::kLmHeadNormBias,
                 K::kOutputBias})
    for (bool encoder : {false, true})
      if (key == dist_key(kind, NameStyle{false, encoder}, te)) return LegacyName{kind, -1, -1, te, false};
  std::string rest = key;
  int layer = 0;
  if (!(take_prefix(rest, "decoder.layers.") || take_prefix(rest, "encoder.layers.")) || !take_number(rest, layer) ||
      !take_prefix(rest, "."))
    return std::nullopt;
  auto named = [&](K kind, int expert = -1) { return LegacyName{kind, layer, expert, te, false}; };
  auto spelled = [&](K kind, MegatronSpec spec, int expert = -1) { return LegacyName{kind, layer, expert, spec, true}; };
  if (rest == "input_layernorm.weight") return spelled(K::kInputNorm, local);
  if (rest == "self_attention.linear_qkv.layer_norm_weight") return spelled(K::kInputNorm, te);
  if (rest == "self_attention.linear_qkv.weight") return named(K::kQkv);
  if (rest == "self_attention.linear_qkv.bias") return named(K::kQkvBias);
  if (rest == "self_attention.q_layernorm.weight") return named(K::kQNorm);
  if (rest == "self_attention.k_layernorm.weight") return named(K::kKNorm);
  if (rest == "self_attention.linear_proj.weight") return named(K::kProj);
  if (rest == "pre_mlp_layernorm.weight") return named(K::kPreMlpNorm);
  if (rest == "input_layernorm.bias") return spelled(K::kInputNormBias, local);
  if (rest == "self_attention.linear_qkv.layer_norm_bias") return spelled(K::kInputNormBias, te);
  if (rest == "pre_mlp_layernorm.bias") return named(K::kPreMlpNormBias);
  if (rest == "mlp.linear_fc1.layer_norm_bias") return spelled(K::kPreMlpNormBias, te);
  if (rest == "self_attention.linear_proj.bias") return named(K::kProjBias);
  if (rest == "mlp.linear_fc1.bias") return named(K::kFc1Bias);
  if (rest == "mlp.linear_fc2.bias") return named(K::kFc2Bias);
  if (rest == "mlp.linear_fc1.layer_norm_weight") return spelled(K::kPreMlpNorm, te);
  if (rest == "mlp.linear_fc1.weight") return named(K::kFc1);
  if (rest == "mlp.linear_fc2.weight") return named(K::kFc2);
  if (rest == "mlp.router.weight") return named(K::kRouter);
  if (rest == "self_attention.linear_proj.post_layernorm.weight") return named(K::kPostAttnNorm);
  if (rest == "mlp.linear_fc2.post_layernorm.weight") return named(K::kPostMlpNorm);
  if (rest == "mlp.router.expert_bias") return named(K::kRouterBias);
  if (rest == "mlp.shared_experts.linear_fc1.weight") return named(K::kSharedFc1);
  if (rest == "mlp.shared_experts.linear_fc2.weight") return named(K::kSharedFc2);
  // multi-latent attention (its input norm is spelled as the local spec's in both specs; the source tells the
  // spec of MLA checkpoints by the kv up-projection's norm instead, and the local spec's q_layernorm is above)
  if (rest == "self_attention.linear_q_down_proj.weight") return named(K::kQDown);
  if (rest == "self_attention.linear_q_up_proj.weight") return named(K::kQUp);
  if (rest == "self_attention.linear_q_proj.weight") return named(K::kQProj);
  if (rest == "self_attention.linear_kv_down_proj.weight") return named(K::kKvDown);
  if (rest == "self_attention.linear_kv_up_proj.weight") return named(K::kKvUp);
  if (rest == "self_attention.kv_layernorm.weight") return spelled(K::kKvUpNorm, local);
  if (rest == "self_attention.linear_q_up_proj.layer_norm_weight") return spelled(K::kQUpNorm, te);
  if (rest == "self_attention.linear_kv_up_proj.layer_norm_weight") return spelled(K::kKvUpNorm, te);
  int expert = 0;
  std::string e = rest;
  if (take_prefix(e, "mlp.experts.local_experts.") && take_number(e, expert)) {
    if (e == ".linear_fc1.weight") return spelled(K::kExpertFc1, local, expert);
    if (e == ".linear_fc2.weight") return spelled(K::kExpertFc2, local, expert);
    return std::nullopt;
  }
  e = rest;
  if (take_prefix(e, "mlp.experts.linear_fc1.weight") && take_number(e, expert) && e.empty())
    return spelled(K::kExpertFc1, te, expert);
  e = rest;
  if (take_prefix(e, "mlp.experts.linear_fc2.weight") && take_number(e, expert) && e.empty())
    return spelled(K::kExpertFc2, te, expert);
  return std::nullopt;
}

}  // namespace mb::bridge
