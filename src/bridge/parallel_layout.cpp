#include "bridge/parallel_layout.h"

#include "core/error.h"

namespace mb::bridge {

const char* spec_name(MegatronSpec s) { return s == MegatronSpec::kLocal ? "local" : "te"; }

int64_t padded_vocab(const ModelConfig& c, const ParallelLayout& layout) {
  const int64_t unit = std::max<int64_t>(1, layout.vocab_divisible_by) * layout.tp;
  return (c.vocab_size + unit - 1) / unit * unit;
}

void validate_layout(const ModelConfig& c, const ParallelLayout& L) {
  auto need = [](bool ok, const std::string& message) {
    if (!ok) fail(Status::kInvalidArgument, message);
  };
  need(L.tp >= 1 && L.pp >= 1 && L.vpp >= 1 && L.ep >= 1, "parallel sizes must be at least 1");
  need(c.num_attention_heads % L.tp == 0,
       cat("tensor parallel ", L.tp, " must divide the ", c.num_attention_heads, " attention heads"));
  need(c.num_query_groups % L.tp == 0,
       cat("tensor parallel ", L.tp, " must divide the ", c.num_query_groups, " key/value heads (query groups)"));
  if (!c.is_moe() || c.mixed_layers())
    need(c.ffn_hidden_size % L.tp == 0,
         cat("tensor parallel ", L.tp, " must divide the MLP size ", c.ffn_hidden_size));
  if (c.mla && L.spec == MegatronSpec::kLocal)  // the local spec splits the down projections' rows too
    need((c.q_lora_rank == 0 || c.q_lora_rank % L.tp == 0) && (c.kv_lora_rank + c.qk_pos_emb_head_dim) % L.tp == 0,
         cat("tensor parallel ", L.tp, " must divide q_lora_rank ", c.q_lora_rank, " and kv_lora_rank + qk_rope_head_dim ",
             c.kv_lora_rank + c.qk_pos_emb_head_dim, " (the local spec's column-parallel down projections)"));
  if (c.is_moe()) {
    need(c.moe_ffn_hidden_size % L.tp == 0,
         cat("tensor parallel ", L.tp, " must divide the expert MLP size ", c.moe_ffn_hidden_size));
    need(c.moe_shared_expert_ffn % L.tp == 0,
         cat("tensor parallel ", L.tp, " must divide the shared expert MLP size ", c.moe_shared_expert_ffn));
    need(c.num_experts % L.ep == 0, cat("expert parallel ", L.ep, " must divide the ", c.num_experts, " experts"));
  } else {
    need(L.ep == 1, "expert parallelism needs a mixture-of-experts model");
  }
  if (c.vision) {  // LLaVA's tower and projector, split as GPT-2's layers and an MLP
    const ModelConfig& v = *c.vision;
    need(v.num_attention_heads % L.tp == 0,
         cat("tensor parallel ", L.tp, " must divide the vision tower's ", v.num_attention_heads, " attention heads"));
    need(v.ffn_hidden_size % L.tp == 0,
         cat("tensor parallel ", L.tp, " must divide the vision tower's MLP size ", v.ffn_hidden_size));
    need(c.hidden_size % L.tp == 0, cat("tensor parallel ", L.tp, " must divide the projector's size ", c.hidden_size));
  }
  need(c.num_layers % (L.pp * L.vpp) == 0,
       cat("pipeline parallel ", L.pp, " x virtual stages ", L.vpp, " must divide the ", c.num_layers, " layers"));
  need(L.vpp == 1 || L.pp > 1, "virtual pipeline stages need pipeline parallelism");
}

LayerPlace place_layer(const ModelConfig& c, const ParallelLayout& L, int layer) {
  const int per_chunk = static_cast<int>(c.num_layers / (L.pp * L.vpp));
  const int chunk = layer / per_chunk;
  return {chunk % L.pp, chunk / L.pp, layer % per_chunk};
}

LayerPlace place_param(const ModelConfig& c, const ParallelLayout& L, const ParamKey& key) {
  if (on_first_stage(key.kind)) return {0, 0, key.layer};  // (LLaVA's vision layers: numbered in the tower)
  if (!is_per_layer(key.kind)) return {L.pp - 1, L.vpp - 1, -1};
  return place_layer(c, L, key.layer);
}

int layer_of(const ModelConfig& c, const ParallelLayout& L, int pp_rank, int vpp_chunk, int local_layer) {
  const int per_chunk = static_cast<int>(c.num_layers / (L.pp * L.vpp));
  return (vpp_chunk * L.pp + pp_rank) * per_chunk + local_layer;
}

ExpertPlace place_expert(const ModelConfig& c, const ParallelLayout& L, int expert) {
  const int per_rank = static_cast<int>(c.num_experts / L.ep);
  return {expert / per_rank, expert % per_rank};
}

std::vector<Tensor> tp_split(const Tensor& full, TpSplit split, int tp) {
  std::vector<Tensor> shards;
  if (split == TpSplit::kReplicated || tp == 1) {
    shards.assign(static_cast<size_t>(tp), full);
    return shards;
  }
  if (split == TpSplit::kGatedColumn) {
    const int64_t half = full.size(0) / 2, part = half / tp;
    for (int r = 0; r < tp; ++r)
      shards.push_back(Tensor::cat({full.narrow(0, r * part, part), full.narrow(0, half + r * part, part)}, 0));
    return shards;
  }
  const int dim = split == TpSplit::kRow ? 1 : 0;
  const int64_t part = full.size(dim) / tp;
  for (int r = 0; r < tp; ++r) shards.push_back(full.narrow(dim, r * part, part));
  return shards;
}

Tensor tp_merge(const std::vector<Tensor>& shards, TpSplit split) {
  if (shards.empty()) fail(Status::kInternal, "tp_merge of no shards");
  if (split == TpSplit::kReplicated || shards.size() == 1) return shards[0];
  if (split == TpSplit::kGatedColumn) {
    std::vector<Tensor> gates, ups;
    for (const Tensor& s : shards) {
      const int64_t half = s.size(0) / 2;
      gates.push_back(s.narrow(0, 0, half));
      ups.push_back(s.narrow(0, half, half));
    }
    for (const Tensor& u : ups) gates.push_back(u);
    return Tensor::cat(gates, 0);
  }
  return Tensor::cat(shards, split == TpSplit::kRow ? 1 : 0);
}

std::vector<TpChunk> tp_chunks(const Tensor& full, TpSplit split, int tp) {
  Dims zero = full.shape();
  for (int d = 0; d < zero.size(); ++d) zero[d] = 0;
  std::vector<TpChunk> chunks;
  if (split == TpSplit::kGatedColumn) {
    const int64_t half = full.size(0) / 2;
    return tp_chunks_gated(full.narrow(0, 0, half), full.narrow(0, half, half), tp);
  }
  if (split == TpSplit::kReplicated || tp == 1) {
    chunks.push_back({0, zero, full});
    return chunks;
  }
  const int dim = split == TpSplit::kRow ? 1 : 0;
  const int64_t part = full.size(dim) / tp;
  for (int r = 0; r < tp; ++r) {
    Dims o = zero;
    o[dim] = r * part;
    chunks.push_back({r, o, full.narrow(dim, r * part, part)});
  }
  return chunks;
}

std::vector<TpChunk> tp_chunks_gated(const Tensor& gate, const Tensor& up, int tp) {
  // Megatron writes gate and up as separate chunks, even at TP 1: rank r holds rows [r*part, (r+1)*part) of
  // each half, at those offsets in the gate half and at half + those in the up half.
  if (gate.shape() != up.shape()) fail(Status::kInternal, "gate and up differ in shape");
  const int64_t half = gate.size(0), part = half / tp;
  Dims zero = gate.shape();
  for (int d = 0; d < zero.size(); ++d) zero[d] = 0;
  std::vector<TpChunk> chunks;
  for (int r = 0; r < tp; ++r) {
    Dims g = zero, u = zero;
    g[0] = r * part;
    u[0] = half + r * part;
    chunks.push_back({r, g, gate.narrow(0, r * part, part)});
    chunks.push_back({r, u, up.narrow(0, r * part, part)});
  }
  return chunks;
}

}  // namespace mb::bridge
