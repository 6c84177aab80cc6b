// Megatron's parallel layout: which tensor-parallel shard, pipeline stage (and virtual stage) and
// expert-parallel rank holds each piece of each parameter; how shards split from and merge into full
// parameters; and the vocabulary padding tensor parallelism needs.
#pragma once

#include <string>
#include <vector>

#include "bridge/model_config.h"
#include "bridge/params.h"
#include "core/tensor.h"

namespace mb::bridge {

// The module layout a Megatron checkpoint was trained with: it decides a few names (megatron_names.h).
enum class MegatronSpec {
  kTransformerEngine,  // Megatron-LM's default (TE fused norm+linear, TEGroupedMLP experts)
  kLocal,              // Megatron-Core's own modules (get_gpt_layer_local_spec, SequentialMLP experts)
};
const char* spec_name(MegatronSpec s);

struct ParallelLayout {
  int tp = 1;    // tensor parallel (also expert tensor parallel)
  int pp = 1;    // pipeline parallel
  int vpp = 1;   // virtual pipeline stages per pipeline rank
  int ep = 1;    // expert parallel
  MegatronSpec spec = MegatronSpec::kTransformerEngine;
  int64_t vocab_divisible_by = 1;  // Megatron's make_vocab_size_divisible_by (padding unit is this * tp)
};

// The vocabulary rows the embedding and output layer are stored with.
int64_t padded_vocab(const ModelConfig& c, const ParallelLayout& layout);

// Every divisibility Megatron needs, checked with messages that say which number to change.
void validate_layout(const ModelConfig& c, const ParallelLayout& layout);

struct LayerPlace {
  int pp_rank;
  int vpp_chunk;    // which model chunk on that rank ("model0", "model1", ...)
  int local_layer;  // the layer's index inside its chunk (legacy files number layers per chunk)
};
// Megatron's default split: pp * vpp chunks of num_layers / (pp * vpp) consecutive layers; chunk k lives on
// pipeline rank k % pp as its virtual stage k / pp.
LayerPlace place_layer(const ModelConfig& c, const ParallelLayout& layout, int layer);
// Where any parameter lives: the embeddings (and LLaVA's vision tower and projector, whose layers keep their
// own numbering) on the first stage, layers by place_layer, the rest (final norm, output layer) on the last.
LayerPlace place_param(const ModelConfig& c, const ParallelLayout& layout, const ParamKey& key);
int layer_of(const ModelConfig& c, const ParallelLayout& layout, int pp_rank, int vpp_chunk, int local_layer);

struct ExpertPlace {
  int ep_rank;
  int local_expert;
};
ExpertPlace place_expert(const ModelConfig& c, const ParallelLayout& layout, int expert);

// The tensor-parallel shards of a full parameter, rank by rank (views where possible).
std::vector<Tensor> tp_split(const Tensor& full, TpSplit split, int tp);
// The full parameter from its shards (rank order).
Tensor tp_merge(const std::vector<Tensor>& shards, TpSplit split);

// The pieces Megatron's torch_dist writes for one parameter at tensor parallelism `tp`: per rank one chunk
// (two for the gated MLP: its gate rows and its up rows), with offsets inside the full parameter.
struct TpChunk {
  int tp_rank;
  Dims offsets;
  Tensor data;
};
std::vector<TpChunk> tp_chunks(const Tensor& full, TpSplit split, int tp);
// The chunks of a gated parameter [gate; up] from its two halves, without concatenating them: every chunk
// lies inside one half (offsets as tp_chunks gives them).
std::vector<TpChunk> tp_chunks_gated(const Tensor& gate, const Tensor& up, int tp);

}  // namespace mb::bridge
