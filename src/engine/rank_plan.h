// What one rank of a tensor- and pipeline-parallel run holds, and that part read from any source.
// Tensor parallelism (tp ranks) splits attention by query groups (with their heads), the MLP by columns,
// experts by columns or (expert parallelism) whole experts among the ranks, and the embedding and output
// layer by vocabulary rows, as Megatron splits them (bridge/parallel_layout.h); pipeline parallelism (pp
// stages) gives each stage consecutive layers, the embedding to the first and the final norm and output
// layer to the last. Rank r of a run of tp x pp ranks is tensor-parallel rank r % tp of stage r / tp.
#pragma once

#include <memory>
#include <vector>

#include "bridge/param_source.h"

namespace mb::engine {

struct ParallelOptions {
  int tp = 1;                    // tensor-parallel ranks
  int pp = 1;                    // pipeline stages
  bool expert_parallel = false;  // MoE: the tensor-parallel ranks hold whole experts (num_experts / tp each)
  // This process is one rank of a run a launcher started, one process per rank (distributed_model.h);
  // otherwise every rank is a thread of this process (parallel_model.h).
  bool one_process_per_rank = false;
  bool parallel() const { return tp > 1 || pp > 1; }
};

struct RankPlan {
  ParallelOptions options;
  int tp_rank = 0;
  int pp_rank = 0;
  static RankPlan of(const ParallelOptions& options, int rank);
  int rank() const { return pp_rank * options.tp + tp_rank; }
  int world() const { return options.tp * options.pp; }
  bool first_stage() const { return pp_rank == 0; }
  bool last_stage() const { return pp_rank == options.pp - 1; }
  // The ranks of this rank's groups, ascending: the tensor-parallel ranks of its stage, and the stages of its
  // tensor-parallel rank.
  std::vector<int> tensor_group() const;
  std::vector<int> pipeline_group() const;
};

class Communicator;

// One rank of a parallel run (parallel_model.h): its plan, and the groups it computes with (communicator.h).
struct RankRole {
  RankPlan plan;
  std::shared_ptr<Communicator> tensor;    // the tensor-parallel ranks of this rank's stage, by tensor-parallel rank
  std::shared_ptr<Communicator> pipeline;  // the stages of this tensor-parallel rank, by stage
  bool tensor_parallel() const { return plan.options.tp > 1; }
};

// Checks every divisibility the split needs, with messages naming the number to change (kInvalidArgument),
// and refuses models the parallel runs do not split (kUnsupported: images, encoders).
void validate_parallel(const bridge::ModelConfig& c, const ParallelOptions& options, const std::string& path);

// The layers of a rank's stage: [first, end).
struct LayerRange {
  int first = 0, end = 0;
  bool contains(int layer) const { return layer >= first && layer < end; }
};
LayerRange stage_layers(const bridge::ModelConfig& c, const RankPlan& plan);

// A run of consecutive sequences of a batch: [first, end).
struct SequenceRange {
  int first = 0, end = 0;
  int size() const { return end - first; }
};

// The batch's sequences as pipeline micro-batches: min(batch, stages) runs of consecutive sequences, sizes
// differing by at most one (the larger first); the whole batch as one without pipeline stages. While a later
// stage works on one micro-batch, an earlier stage begins the next.
std::vector<SequenceRange> micro_batches(int batch, int stages);

// Whether the rank holds expert e's weights: every expert (split by columns), or under expert parallelism its
// share, placed as Megatron places them (bridge::place_expert).
bool holds_expert(const bridge::ModelConfig& c, const RankPlan& plan, int expert);

// Vocabulary rows each tensor-parallel rank holds of the embedding and output layer: the rows rounded up to a
// multiple of tp (the last rank's rows past the source's are zeros).
int64_t vocab_rows_per_rank(int64_t vocab_rows, int tp);

// A rank's model as a source of its own: its config (heads, query groups and MLP sizes divided by tp; layer
// indices stay global), only the parameters it holds, each read from `full` as slices of the rank's part
// (ParamSource::read_slice: a Megatron checkpoint's own shards of this rank, where they hold the part).
// `full` must outlive it.
std::unique_ptr<bridge::ParamSource> rank_source(const bridge::ParamSource& full, const RankPlan& plan);

}  // namespace mb::engine
