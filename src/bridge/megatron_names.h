// How Megatron spells each parameter, as checked against checkpoints Megatron-Core wrote (fixtures in
// tests/fixtures/foundation/mcore and tests/fixtures/bridge/mcore):
//   torch_dist: one key per kind with the layers (and experts) stacked in leading axes,
//               "decoder.layers.self_attention.linear_qkv.weight" [layers, rows, hidden];
//   legacy:     module state-dict names with the layer's index inside its pipeline chunk,
//               "decoder.layers.3.self_attention.linear_qkv.weight".
// Both spellings of the local and Transformer-Engine specs are here, and the per-module "_extra_state"
// entries Megatron-Core expects to find.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "bridge/parallel_layout.h"
#include "bridge/params.h"

namespace mb::bridge {

// What a parameter's name depends on besides its kind and the spec.
struct NameStyle {
  bool moe = false;      // MoE layers (Transformer Engine's MoE layers keep a separate pre-MLP norm)
  bool encoder = false;  // BertModel: the layers and the final norm under "encoder." instead of "decoder."
  bool mla = false;      // multi-latent attention layers (their norms are modules of their own)
  // A vision-language model: the language model's names under "language_model." (LLaVA, Megatron-Core's
  // LLaVAModel, has its tower under "vision_model." and the projector under "vision_projection.encoder.";
  // Qwen2.5-VL, Megatron-Bridge's Qwen25VLModel, transformers' tower under "visual.")
  bool multimodal = false;
};
// The style of the model's layers, or of one layer (`layer` >= 0: whether that layer is MoE).
NameStyle name_style(const ModelConfig& c, int layer = -1);

// torch_dist key of a parameter kind (layer and expert axes come first in its global shape).
std::string dist_key(ParamKind kind, NameStyle style, MegatronSpec spec);

// torch_dist key of one parameter. Layers are stacked in a leading axis of one key per kind, except in models
// whose layers differ (dense and MoE layers: ModelConfig::mixed_layers), which Megatron-Core saves layer by
// layer ("decoder.layers.3.mlp.router.weight", no layer axis; TransformerBlock.sharded_state_dict).
struct DistName {
  std::string key;
  bool layer_axis = false;
  int64_t layers = 0;  // the layer axis's length (the vision tower's layers, or the language model's)
};
DistName dist_name(const ModelConfig& c, const ParamKey& key, MegatronSpec spec);

// How tensor parallelism splits `kind` in checkpoints of `spec`: as tp_split says, except MLA's down
// projections, which the local spec builds as column-parallel layers and Transformer Engine duplicates.
TpSplit tp_split_in(const ParamInfo& p, MegatronSpec spec);
// Legacy state-dict key of a parameter at a chunk-local layer index and rank-local expert index (`style`: the
// layer's, name_style(c, global layer)).
std::string legacy_key(ParamKind kind, int local_layer, int local_expert, NameStyle style, MegatronSpec spec);
// legacy_key of one of c's parameters, `global_layer` its ParamKey::layer: a verbatim Hugging Face tensor
// (ParamKind::kVerbatim) keeps its own name.
std::string legacy_param_key(const ModelConfig& c, ParamKind kind, int global_layer, int local_layer, int local_expert,
                             MegatronSpec spec);

// The torch_dist ShardedObject keys of a layer's extra state ("<module>._extra_state/shard_<i>_<L>", or
// "decoder.layers.<i>.<module>._extra_state/shard_0_1" where layers are saved one by one).
std::vector<std::string> dist_extra_state_keys(const ModelConfig& c, MegatronSpec spec, int layer);
// The legacy "_extra_state" entries (all None) of one layer on one rank, and of the output layer.
std::vector<std::string> legacy_layer_extra_state_keys(const ModelConfig& c, MegatronSpec spec, int local_layer,
                                                       int global_layer, int local_experts);
constexpr const char* kOutputExtraState = "output_layer._extra_state";
// The same as a torch_dist ShardedObject (global shape (1,), offset 0), which BertModel loads.
constexpr const char* kOutputDistExtraState = "output_layer._extra_state/shard_0_1";
// LLaVA's vision tower and projector: their torch_dist extra-state objects, and their legacy entries (on the
// first pipeline stage).
std::vector<std::string> dist_vision_extra_state_keys(const ModelConfig& c, MegatronSpec spec);
std::vector<std::string> legacy_vision_extra_state_keys(const ModelConfig& c, MegatronSpec spec);
// The language model's prefix in `style` ("language_model." for LLaVA, else none).
std::string language_prefix(const NameStyle& style);

// Reading: what a legacy key names (layers under "decoder." or "encoder."). Returns nullopt for keys that hold
// no parameter (_extra_state).
struct LegacyName {
  ParamKind kind;
  int local_layer = -1;
  int local_expert = -1;
  MegatronSpec spec;  // the spelling it was written in (when it tells)
  bool spec_known = false;
};
std::optional<LegacyName> parse_legacy_key(const std::string& key);

}  // namespace mb::bridge
