#include "bridge/params.h"

#include "core/error.h"

namespace mb::bridge {

const char* kind_name(ParamKind kind) {
  switch (kind) {
    case ParamKind::kEmbedding: return "embedding";
    case ParamKind::kOutput: return "output";
    case ParamKind::kFinalNorm: return "final_norm";
    case ParamKind::kInputNorm: return "input_norm";
    case ParamKind::kQkv: return "qkv";
    case ParamKind::kQkvBias: return "qkv_bias";
    case ParamKind::kQNorm: return "q_norm";
    case ParamKind::kKNorm: return "k_norm";
    case ParamKind::kProj: return "proj";
    case ParamKind::kPreMlpNorm: return "pre_mlp_norm";
    case ParamKind::kFc1: return "fc1";
    case ParamKind::kFc2: return "fc2";
    case ParamKind::kRouter: return "router";
    case ParamKind::kExpertFc1: return "expert_fc1";
    case ParamKind::kExpertFc2: return "expert_fc2";
    case ParamKind::kPostAttnNorm: return "post_attn_norm";
    case ParamKind::kPostMlpNorm: return "post_mlp_norm";
    case ParamKind::kPositionEmbedding: return "position_embedding";
    case ParamKind::kInputNormBias: return "input_norm_bias";
    case ParamKind::kPreMlpNormBias: return "pre_mlp_norm_bias";
    case ParamKind::kFinalNormBias: return "final_norm_bias";
    case ParamKind::kProjBias: return "proj_bias";
    case ParamKind::kFc1Bias: return "fc1_bias";
    case ParamKind::kFc2Bias: return "fc2_bias";
    case ParamKind::kTokenTypeEmbedding: return "token_type_embedding";
    case ParamKind::kLmHeadDense: return "lm_head_dense";
    case ParamKind::kLmHeadDenseBias: return "lm_head_dense_bias";
    case ParamKind::kLmHeadNorm: return "lm_head_norm";
    case ParamKind::kLmHeadNormBias: return "lm_head_norm_bias";
    case ParamKind::kOutputBias: return "output_bias";
    case ParamKind::kQDown: return "q_down";
    case ParamKind::kQUpNorm: return "q_up_norm";
    case ParamKind::kQUp: return "q_up";
    case ParamKind::kQProj: return "q_proj";
    case ParamKind::kKvDown: return "kv_down";
    case ParamKind::kKvUpNorm: return "kv_up_norm";
    case ParamKind::kKvUp: return "kv_up";
    case ParamKind::kRouterBias: return "router_bias";
    case ParamKind::kSharedFc1: return "shared_fc1";
    case ParamKind::kSharedFc2: return "shared_fc2";
    case ParamKind::kVisionPatchEmbedding: return "vision_patch_embedding";
    case ParamKind::kVisionClassToken: return "vision_class_token";
    case ParamKind::kVisionPositionEmbedding: return "vision_position_embedding";
    case ParamKind::kVisionPreNorm: return "vision_pre_norm";
    case ParamKind::kVisionPreNormBias: return "vision_pre_norm_bias";
    case ParamKind::kVisionInputNorm: return "vision_input_norm";
    case ParamKind::kVisionInputNormBias: return "vision_input_norm_bias";
    case ParamKind::kVisionQkv: return "vision_qkv";
    case ParamKind::kVisionQkvBias: return "vision_qkv_bias";
    case ParamKind::kVisionProj: return "vision_proj";
    case ParamKind::kVisionProjBias: return "vision_proj_bias";
    case ParamKind::kVisionPreMlpNorm: return "vision_pre_mlp_norm";
    case ParamKind::kVisionPreMlpNormBias: return "vision_pre_mlp_norm_bias";
    case ParamKind::kVisionFc1: return "vision_fc1";
    case ParamKind::kVisionFc1Bias: return "vision_fc1_bias";
    case ParamKind::kVisionFc2: return "vision_fc2";
    case ParamKind::kVisionFc2Bias: return "vision_fc2_bias";
    case ParamKind::kProjectorFc1: return "projector_fc1";
    case ParamKind::kProjectorFc1Bias: return "projector_fc1_bias";
    case ParamKind::kProjectorFc2: return "projector_fc2";
    case ParamKind::kProjectorFc2Bias: return "projector_fc2_bias";
    case ParamKind::kCarried: return "carried";
    case ParamKind::kVerbatim: return "verbatim";
  }
  return "?";
}

bool is_per_layer(ParamKind kind) {
  switch (kind) {
    case ParamKind::kEmbedding:
    case ParamKind::kOutput:
    case ParamKind::kFinalNorm:
    case ParamKind::kPositionEmbedding:
    case ParamKind::kFinalNormBias:
    case ParamKind::kTokenTypeEmbedding:
    case ParamKind::kLmHeadDense:
    case ParamKind::kLmHeadDenseBias:
    case ParamKind::kLmHeadNorm:
    case ParamKind::kLmHeadNormBias:
    case ParamKind::kOutputBias:
    case ParamKind::kVisionPatchEmbedding:
    case ParamKind::kVisionClassToken:
    case ParamKind::kVisionPositionEmbedding:
    case ParamKind::kVisionPreNorm:
    case ParamKind::kVisionPreNormBias:
    case ParamKind::kProjectorFc1:
    case ParamKind::kProjectorFc1Bias:
    case ParamKind::kProjectorFc2:
    case ParamKind::kProjectorFc2Bias:
    case ParamKind::kCarried:
    case ParamKind::kVerbatim: return false;
    default: return true;  // (the vision layers' kinds: per vision layer)
  }
}

bool is_vision(ParamKind k) { return k >= ParamKind::kVisionPatchEmbedding && k <= ParamKind::kProjectorFc2Bias; }

ParamKind language_twin(ParamKind k) {
  switch (k) {
    case ParamKind::kVisionInputNorm: return ParamKind::kInputNorm;
    case ParamKind::kVisionInputNormBias: return ParamKind::kInputNormBias;
    case ParamKind::kVisionQkv: return ParamKind::kQkv;
    case ParamKind::kVisionQkvBias: return ParamKind::kQkvBias;
    case ParamKind::kVisionProj: return ParamKind::kProj;
    case ParamKind::kVisionProjBias: return ParamKind::kProjBias;
    case ParamKind::kVisionPreMlpNorm: return ParamKind::kPreMlpNorm;
    case ParamKind::kVisionPreMlpNormBias: return ParamKind::kPreMlpNormBias;
    case ParamKind::kVisionFc1: return ParamKind::kFc1;
    case ParamKind::kVisionFc1Bias: return ParamKind::kFc1Bias;
    case ParamKind::kVisionFc2: return ParamKind::kFc2;
    case ParamKind::kVisionFc2Bias: return ParamKind::kFc2Bias;
    default: return k;
  }
}

bool is_vocab(ParamKind k) {
  return k == ParamKind::kEmbedding || k == ParamKind::kOutput || k == ParamKind::kOutputBias;
}

bool on_first_stage(ParamKind kind) {
  return kind == ParamKind::kEmbedding || kind == ParamKind::kPositionEmbedding ||
         kind == ParamKind::kTokenTypeEmbedding || is_vision(kind) || kind == ParamKind::kVerbatim;
}

bool is_per_expert(ParamKind kind) { return kind == ParamKind::kExpertFc1 || kind == ParamKind::kExpertFc2; }

bool is_norm_weight(ParamKind k) {
  return k == ParamKind::kFinalNorm || k == ParamKind::kInputNorm || k == ParamKind::kPreMlpNorm ||
         k == ParamKind::kQNorm || k == ParamKind::kKNorm || k == ParamKind::kPostAttnNorm ||
         k == ParamKind::kPostMlpNorm;
}

TpSplit tp_split(ParamKind kind, bool gated_mlp) {
  if (language_twin(kind) != kind) return tp_split(language_twin(kind), false);  // CLIP's MLP is plain
  switch (kind) {
    case ParamKind::kProjectorFc1:
    case ParamKind::kProjectorFc1Bias: return TpSplit::kColumn;
    case ParamKind::kProjectorFc2: return TpSplit::kRow;
    case ParamKind::kEmbedding:
    case ParamKind::kOutput:
    case ParamKind::kOutputBias:
    case ParamKind::kQkv:
    case ParamKind::kQkvBias:
    case ParamKind::kQUp:
    case ParamKind::kQProj:
    case ParamKind::kKvUp: return TpSplit::kColumn;
    // MLA's down projections: a copy on every rank (Transformer Engine's duplicated TELinear, which
    // Megatron-Bridge's DeepSeek checkpoints use; megatron_names.h: tp_split_in for the local spec's)
    case ParamKind::kQDown:
    case ParamKind::kKvDown: return TpSplit::kReplicated;
    case ParamKind::kSharedFc1: return TpSplit::kGatedColumn;
    case ParamKind::kSharedFc2: return TpSplit::kRow;
    case ParamKind::kFc1:
    case ParamKind::kFc1Bias: return gated_mlp ? TpSplit::kGatedColumn : TpSplit::kColumn;
    case ParamKind::kExpertFc1: return TpSplit::kGatedColumn;
    case ParamKind::kProj:
    case ParamKind::kFc2:
    case ParamKind::kExpertFc2: return TpSplit::kRow;
    default: return TpSplit::kReplicated;
  }
}

std::string describe(const ParamKey& k) {
  if (k.kind == ParamKind::kCarried) return cat("carried tensor ", k.layer);
  if (k.kind == ParamKind::kVerbatim) return cat("verbatim tensor ", k.layer);
  std::string s;
  if (k.layer >= 0) s += cat("layer ", k.layer, " ");
  if (k.expert >= 0) s += cat("expert ", k.expert, " ");
  return s + kind_name(k.kind);
}

std::vector<ParamInfo> model_params(const ModelConfig& c, int64_t vocab_rows) {
  const int64_t H = c.hidden_size, d = c.kv_channels;
  const int64_t qkv_rows = (c.num_attention_heads + 2 * c.num_query_groups) * d;
  std::vector<ParamInfo> out;
  auto add = [&](ParamKind kind, int layer, int expert, Dims shape) {
    out.push_back({ParamKey{kind, layer, expert}, shape, tp_split(kind, c.gated_mlp)});
  };
  if (c.vision) {  // LLaVA: the vision tower and projector first (the first pipeline stage's)
    const ModelConfig& v = *c.vision;
    const int64_t Vh = v.hidden_size, Vqkv = 3 * v.num_attention_heads * v.kv_channels;
    const int64_t patches = (c.image_size / c.patch_size) * (c.image_size / c.patch_size);
    add(ParamKind::kVisionPatchEmbedding, -1, -1, {Vh, c.image_channels, c.patch_size, c.patch_size});
    add(ParamKind::kVisionClassToken, -1, -1, {1, 1, Vh});
    add(ParamKind::kVisionPositionEmbedding, -1, -1, {patches + 1, Vh});
    add(ParamKind::kVisionPreNorm, -1, -1, {Vh});
    add(ParamKind::kVisionPreNormBias, -1, -1, {Vh});
    for (int l = 0; l < v.num_layers; ++l) {
      add(ParamKind::kVisionInputNorm, l, -1, {Vh});
      add(ParamKind::kVisionInputNormBias, l, -1, {Vh});
      add(ParamKind::kVisionQkv, l, -1, {Vqkv, Vh});
      add(ParamKind::kVisionQkvBias, l, -1, {Vqkv});
      add(ParamKind::kVisionProj, l, -1, {Vh, v.num_attention_heads * v.kv_channels});
      add(ParamKind::kVisionProjBias, l, -1, {Vh});
      add(ParamKind::kVisionPreMlpNorm, l, -1, {Vh});
      add(ParamKind::kVisionPreMlpNormBias, l, -1, {Vh});
      add(ParamKind::kVisionFc1, l, -1, {v.ffn_hidden_size, Vh});
      add(ParamKind::kVisionFc1Bias, l, -1, {v.ffn_hidden_size});
      add(ParamKind::kVisionFc2, l, -1, {Vh, v.ffn_hidden_size});
      add(ParamKind::kVisionFc2Bias, l, -1, {Vh});
    }
    add(ParamKind::kProjectorFc1, -1, -1, {H, Vh});
    if (c.projector_bias) add(ParamKind::kProjectorFc1Bias, -1, -1, {H});
    add(ParamKind::kProjectorFc2, -1, -1, {H, H});
    if (c.projector_bias) add(ParamKind::kProjectorFc2Bias, -1, -1, {H});
    for (size_t i = 0; i < c.carried.size(); ++i) add(ParamKind::kCarried, static_cast<int>(i), -1, c.carried[i].shape);
  }
  // Qwen2.5-VL: the Hugging Face vision tower (the first pipeline stage's)
  for (size_t i = 0; i < c.verbatim.size(); ++i) add(ParamKind::kVerbatim, static_cast<int>(i), -1, c.verbatim[i].shape);
  const int64_t fc1_rows = (c.gated_mlp ? 2 : 1) * c.ffn_hidden_size;
  add(ParamKind::kEmbedding, -1, -1, {vocab_rows, H});
  if (c.learned_positions) add(ParamKind::kPositionEmbedding, -1, -1, {c.max_position_embeddings, H});
  if (c.num_token_types > 0) add(ParamKind::kTokenTypeEmbedding, -1, -1, {c.num_token_types, H});
  for (int l = 0; l < c.num_layers; ++l) {
    add(ParamKind::kInputNorm, l, -1, {H});
    if (c.layer_norm) add(ParamKind::kInputNormBias, l, -1, {H});
    if (c.mla) {
      const int64_t q_rows = c.num_attention_heads * c.q_head_dim();
      if (c.q_lora_rank > 0) {
        add(ParamKind::kQDown, l, -1, {c.q_lora_rank, H});
        add(ParamKind::kQUpNorm, l, -1, {c.q_lora_rank});
        add(ParamKind::kQUp, l, -1, {q_rows, c.q_lora_rank});
      } else {
        add(ParamKind::kQProj, l, -1, {q_rows, H});
      }
      add(ParamKind::kKvDown, l, -1, {c.kv_lora_rank + c.qk_pos_emb_head_dim, H});
      add(ParamKind::kKvUpNorm, l, -1, {c.kv_lora_rank});
      add(ParamKind::kKvUp, l, -1, {c.num_attention_heads * (c.qk_head_dim + c.v_head_dim), c.kv_lora_rank});
    } else {
      add(ParamKind::kQkv, l, -1, {qkv_rows, H});
      if (c.qkv_bias) add(ParamKind::kQkvBias, l, -1, {qkv_rows});
      if (c.qk_layernorm) {
        add(ParamKind::kQNorm, l, -1, {d});
        add(ParamKind::kKNorm, l, -1, {d});
      }
    }
    add(ParamKind::kProj, l, -1, {H, c.num_attention_heads * c.v_dim()});
    if (c.linear_bias) add(ParamKind::kProjBias, l, -1, {H});
    if (c.sandwich_norms) add(ParamKind::kPostAttnNorm, l, -1, {H});
    add(ParamKind::kPreMlpNorm, l, -1, {H});
    if (c.layer_norm) add(ParamKind::kPreMlpNormBias, l, -1, {H});
    if (c.is_moe_layer(l)) {
      add(ParamKind::kRouter, l, -1, {c.num_experts, H});
      if (c.moe_expert_bias) add(ParamKind::kRouterBias, l, -1, {c.num_experts});
      for (int e = 0; e < c.num_experts; ++e) {
        add(ParamKind::kExpertFc1, l, e, {2 * c.moe_ffn_hidden_size, H});
        add(ParamKind::kExpertFc2, l, e, {H, c.moe_ffn_hidden_size});
      }
      if (c.moe_shared_expert_ffn > 0) {
        add(ParamKind::kSharedFc1, l, -1, {2 * c.moe_shared_expert_ffn, H});
        add(ParamKind::kSharedFc2, l, -1, {H, c.moe_shared_expert_ffn});
      }
    } else {
      add(ParamKind::kFc1, l, -1, {fc1_rows, H});
      if (c.linear_bias) add(ParamKind::kFc1Bias, l, -1, {fc1_rows});
      add(ParamKind::kFc2, l, -1, {H, c.ffn_hidden_size});
      if (c.linear_bias) add(ParamKind::kFc2Bias, l, -1, {H});
    }
    if (c.sandwich_norms) add(ParamKind::kPostMlpNorm, l, -1, {H});
  }
  add(ParamKind::kFinalNorm, -1, -1, {H});
  if (c.layer_norm) add(ParamKind::kFinalNormBias, -1, -1, {H});
  if (c.encoder) {  // BERT's masked-LM head
    add(ParamKind::kLmHeadDense, -1, -1, {H, H});
    add(ParamKind::kLmHeadDenseBias, -1, -1, {H});
    add(ParamKind::kLmHeadNorm, -1, -1, {H});
    add(ParamKind::kLmHeadNormBias, -1, -1, {H});
  }
  if (!c.tied_embeddings) add(ParamKind::kOutput, -1, -1, {vocab_rows, H});
  if (c.encoder) add(ParamKind::kOutputBias, -1, -1, {vocab_rows});
  return out;
}

}  // namespace mb::bridge
