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
  }
  return "?";
}

bool is_per_layer(ParamKind kind) {
  return kind != ParamKind::kEmbedding && kind != ParamKind::kOutput && kind != ParamKind::kFinalNorm;
}

bool is_per_expert(ParamKind kind) { return kind == ParamKind::kExpertFc1 || kind == ParamKind::kExpertFc2; }

TpSplit tp_split(ParamKind kind) {
  switch (kind) {
    case ParamKind::kEmbedding:
    case ParamKind::kOutput:
    case ParamKind::kQkv:
    case ParamKind::kQkvBias: return TpSplit::kColumn;
    case ParamKind::kFc1:
    case ParamKind::kExpertFc1: return TpSplit::kGatedColumn;
    case ParamKind::kProj:
    case ParamKind::kFc2:
    case ParamKind::kExpertFc2: return TpSplit::kRow;
    default: return TpSplit::kReplicated;
  }
}

std::string describe(const ParamKey& k) {
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
    out.push_back({ParamKey{kind, layer, expert}, shape, tp_split(kind)});
  };
  add(ParamKind::kEmbedding, -1, -1, {vocab_rows, H});
  for (int l = 0; l < c.num_layers; ++l) {
    add(ParamKind::kInputNorm, l, -1, {H});
    add(ParamKind::kQkv, l, -1, {qkv_rows, H});
    if (c.qkv_bias) add(ParamKind::kQkvBias, l, -1, {qkv_rows});
    if (c.qk_layernorm) {
      add(ParamKind::kQNorm, l, -1, {d});
      add(ParamKind::kKNorm, l, -1, {d});
    }
    add(ParamKind::kProj, l, -1, {H, c.num_attention_heads * d});
    add(ParamKind::kPreMlpNorm, l, -1, {H});
    if (c.is_moe()) {
      add(ParamKind::kRouter, l, -1, {c.num_experts, H});
      for (int e = 0; e < c.num_experts; ++e) {
        add(ParamKind::kExpertFc1, l, e, {2 * c.moe_ffn_hidden_size, H});
        add(ParamKind::kExpertFc2, l, e, {H, c.moe_ffn_hidden_size});
      }
    } else {
      add(ParamKind::kFc1, l, -1, {2 * c.ffn_hidden_size, H});
      add(ParamKind::kFc2, l, -1, {H, c.ffn_hidden_size});
    }
  }
  add(ParamKind::kFinalNorm, -1, -1, {H});
  if (!c.tied_embeddings) add(ParamKind::kOutput, -1, -1, {vocab_rows, H});
  return out;
}

}  // namespace mb::bridge
