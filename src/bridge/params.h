// The Megatron-side parameters of a model, named by what they are rather than by any one file's spelling:
// one ParamKey per (kind, layer, expert), each a full tensor (tensor-parallel shards merged, one layer,
// one expert). Every conversion streams these in a fixed order -- embedding, then layer by layer
// (and expert by expert), then the final norm and output layer -- so a converter holds one at a time.
// How each is spelled in torch_dist or legacy files lives in megatron_names.h; how it maps to Hugging
// Face tensors lives in each family (hf_mapping.h).
#pragma once

#include <string>
#include <vector>

#include "bridge/model_config.h"
#include "core/dims.h"

namespace mb::bridge {

enum class ParamKind {
  kEmbedding,   // [vocab, hidden]
  kOutput,      // [vocab, hidden] (absent when embeddings are tied)
  kFinalNorm,   // [hidden]
  kInputNorm,   // [hidden]
  kQkv,         // [(heads + 2 * groups) * head_dim, hidden], interleaved per query group: [q..., k, v]
  kQkvBias,     // [(heads + 2 * groups) * head_dim]
  kQNorm,       // [head_dim]
  kKNorm,       // [head_dim]
  kProj,        // [hidden, heads * head_dim]
  kPreMlpNorm,  // [hidden]
  kFc1,         // [2 * ffn, hidden]: [gate; up]
  kFc2,         // [hidden, ffn]
  kRouter,      // [experts, hidden]
  kExpertFc1,   // [2 * moe_ffn, hidden] per expert
  kExpertFc2,   // [hidden, moe_ffn] per expert
  kPostAttnNorm,  // [hidden] (Gemma-2: on the attention's output, before the residual add)
  kPostMlpNorm,   // [hidden] (Gemma-2: on the MLP's output, before the residual add)
  // GPT-2: learned absolute positions, LayerNorm biases, biases on every linear layer
  kPositionEmbedding,  // [max_position_embeddings, hidden]
  kInputNormBias,      // [hidden]
  kPreMlpNormBias,     // [hidden]
  kFinalNormBias,      // [hidden]
  kProjBias,           // [hidden]
  kFc1Bias,            // [ffn] (a gated MLP's [2 * ffn]: [gate; up])
  kFc2Bias,            // [hidden]
  // BERT
  kTokenTypeEmbedding,  // [token types, hidden]
  kLmHeadDense,         // [hidden, hidden]
  kLmHeadDenseBias,     // [hidden]
  kLmHeadNorm,          // [hidden]
  kLmHeadNormBias,      // [hidden]
  kOutputBias,          // [vocab] (padded as the output layer)
  // DeepSeek-V3: multi-latent attention (q_head = qk_head_dim + qk_pos_emb_head_dim)
  kQDown,      // [q_lora_rank, hidden]
  kQUpNorm,    // [q_lora_rank]
  kQUp,        // [heads * q_head, q_lora_rank]
  kQProj,      // [heads * q_head, hidden] (q_lora_rank 0: no down projection)
  kKvDown,     // [kv_lora_rank + qk_pos_emb_head_dim, hidden]: [latent | rotary key]
  kKvUpNorm,   // [kv_lora_rank]
  kKvUp,       // [heads * (qk_head_dim + v_head_dim), kv_lora_rank]: per head [key | value]
  // and its mixture of experts
  kRouterBias,  // [experts] (the expert bias added to the scores when choosing)
  kSharedFc1,   // [2 * shared ffn, hidden]: [gate; up]
  kSharedFc2,   // [hidden, shared ffn]
  // LLaVA: the CLIP vision tower (Megatron-Core's CLIPViTModel, "vision_model."), whose layers are shaped as
  // GPT-2's (LayerNorm with biases, biases on every linear layer, a plain MLP; every head its own group, Vh
  // its hidden size), and the projector into the language model ("vision_projection.encoder.")
  kVisionPatchEmbedding,     // [Vh, channels, patch, patch] (a convolution without bias)
  kVisionClassToken,         // [1, 1, Vh]
  kVisionPositionEmbedding,  // [patches + 1, Vh]
  kVisionPreNorm,            // [Vh]
  kVisionPreNormBias,        // [Vh]
  kVisionInputNorm,          // per vision layer: as the language layers' kinds of the same names
  kVisionInputNormBias,
  kVisionQkv,
  kVisionQkvBias,
  kVisionProj,
  kVisionProjBias,
  kVisionPreMlpNorm,
  kVisionPreMlpNormBias,
  kVisionFc1,
  kVisionFc1Bias,
  kVisionFc2,
  kVisionFc2Bias,
  kProjectorFc1,      // [hidden, Vh]
  kProjectorFc1Bias,  // [hidden]
  kProjectorFc2,      // [hidden, hidden]
  kProjectorFc2Bias,  // [hidden]
  // A Hugging Face tensor no Megatron parameter holds (LLaVA's CLIP layers past the one whose output is the
  // image features, and the tower's final norm, which Megatron-Core's LLaVAModel does not build): carried
  // through a Megatron checkpoint beside it (mbridge_hf/carried.safetensors) so an export gives it back.
  // `layer` indexes ModelConfig::carried.
  kCarried,
  // A Hugging Face tensor the Megatron model holds under the same name (Megatron-Bridge's ReplicatedMapping:
  // Qwen2.5-VL's vision tower is transformers' module inside the Megatron model, "visual.*"), whole on every
  // tensor-parallel rank of the first pipeline stage. `layer` indexes ModelConfig::verbatim.
  kVerbatim,
};

// How tensor parallelism splits a parameter (Megatron's Column/RowParallelLinear, and the gated MLP
// whose rank r holds [gate_r; up_r]).
enum class TpSplit { kReplicated, kColumn, kGatedColumn, kRow };

struct ParamKey {
  ParamKind kind;
  int layer = -1;   // -1: not a per-layer parameter
  int expert = -1;  // -1: not a per-expert parameter
  bool operator==(const ParamKey& o) const { return kind == o.kind && layer == o.layer && expert == o.expert; }
};

struct ParamInfo {
  ParamKey key;
  Dims shape;
  TpSplit split;
};

const char* kind_name(ParamKind kind);  // "qkv", "expert_fc1", ...
bool is_per_layer(ParamKind kind);
bool on_first_stage(ParamKind kind);
// One row (or element) per vocabulary entry, padded past the vocabulary: the embedding, output layer and its bias.
bool is_vocab(ParamKind kind);  // the embeddings (the rest that is not per layer is on the last stage)
bool is_per_expert(ParamKind kind);
// The weights of the model's hidden-size and per-head norms (input, pre-MLP, final, q/k, Gemma-2's post-branch
// ones): what a zero-centred model (Gemma) stores as w and applies as 1 + w.
bool is_norm_weight(ParamKind kind);
// The vision tower's and projector's kinds (all on the first pipeline stage, with the embedding).
bool is_vision(ParamKind kind);
// A vision layer kind's language-layer twin (kVisionQkv -> kQkv): the same module in another stack.
ParamKind language_twin(ParamKind kind);
TpSplit tp_split(ParamKind kind, bool gated_mlp = true);
std::string describe(const ParamKey& key);  // "layer 3 expert 1 expert_fc1"

// Every parameter of the model, in streaming order. `vocab_rows` is the (possibly padded) vocabulary
// size the embedding and output layer are stored with.
std::vector<ParamInfo> model_params(const ModelConfig& c, int64_t vocab_rows);

}  // namespace mb::bridge
