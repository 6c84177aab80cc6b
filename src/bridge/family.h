// A model family: which Hugging Face architectures it handles, how their config.json becomes a
// ModelConfig (and back), and which Hugging Face tensors make up each Megatron parameter.
// Adding a family is one file in src/bridge/models/ that returns one of these (docs/adding-a-model.md).
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "bridge/model_config.h"
#include "bridge/params.h"
#include "io/hf_config.h"
#include "io/json.h"

namespace mb::bridge {

// How Hugging Face tensors combine into one Megatron parameter. Names are patterns in which {layer} and
// {expert} stand for the indices.
enum class HfRule {
  kDirect,  // one tensor, unchanged
  kQkv,     // q, k, v -> Megatron's interleaved [q heads of group g, k_g, v_g] for every group g
  kGated,   // gate, up -> [gate; up]
  // GPT-2's Conv1D layers store weights as [in, out]:
  kTransposed,  // one [in, out] tensor -> [out, in] (a 1-d tensor, a bias, unchanged)
  kQkvFused,    // one [in, q|k|v] tensor -> transposed, then interleaved as kQkv (a bias: [q|k|v] interleaved)
  kSqueezed,    // one tensor that is the parameter without its leading size-1 dims (CLIP's class embedding)
};

struct HfMapping {
  ParamKind kind;
  HfRule rule;
  std::vector<std::string> hf;  // kDirect: {name}; kQkv: {q, k, v}; kGated: {gate, up}
  // Names for layer 0 when they differ from the pattern (BERT's norms shift by one layer: layer 0's input
  // norm is the embeddings' LayerNorm, layer i's the output LayerNorm of layer i - 1).
  std::vector<std::string> hf_layer0 = {};
};

struct Family {
  std::string name;                        // "llama"
  std::string description;                 // for `mbridge list`
  std::vector<std::string> architectures;  // config.json "architectures" it handles
  std::vector<std::string> model_types;    // config.json "model_type" it handles
  std::function<ModelConfig(const HfConfig&)> config_from_hf;
  // A config.json for a model with no stored Hugging Face config (e.g. a checkpoint Megatron trained).
  std::function<json::Value(const ModelConfig&)> hf_config_for;
  std::vector<HfMapping> mappings;
  // Hugging Face tensors that hold no weights and are skipped on import (rotary inv_freq buffers).
  std::vector<std::string> ignored;
  // Other spellings of name prefixes an import accepts ({written, also read}): checkpoints saved by other
  // transformers versions (LLaVA's "vision_tower." is "vision_tower.vision_model." on the Hub).
  std::vector<std::pair<std::string, std::string>> alternative_prefixes;
};

}  // namespace mb::bridge
