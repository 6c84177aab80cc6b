// This process as one rank of a tensor- and pipeline-parallel run started by a launcher (torchrun, mpirun,
// srun; launch_info.h), one process per rank: it holds only its part of the model (rank_plan.h) on its backend
// and computes with the other processes. On the CPU the collectives go over the run's TCP connections
// (process_group.h); on GPUs (rank on GPU local_rank, or on the one named) through NCCL, whose group id rank 0
// makes and hands round over those connections, split into the tensor- and pipeline-parallel groups. Every
// process runs every call with the same arguments; rank 0's host callback decides for all of them, and every
// rank returns the same tokens.
#pragma once

#include <memory>
#include <string>

#include "engine/communicator.h"
#include "engine/launch_info.h"
#include "engine/model.h"
#include "engine/process_group.h"
#include "engine/rank_plan.h"

namespace mb::engine {

class DistributedModel final : public Model {
 public:
  // `device`: "cpu", "cuda" (GPU local_rank) or "cuda:N". The launcher's world must be options.tp * options.pp.
  DistributedModel(const bridge::ParamSource& source, const ParallelOptions& options, const std::string& device,
                   const LaunchInfo& launch);
  ~DistributedModel() override;

  const bridge::ModelConfig& config() const override { return config_; }
  int rank() const { return run_->rank(); }
  std::vector<float> forward(const std::vector<int32_t>& ids) override { return rank_->forward(ids); }
  std::vector<std::vector<int32_t>> generate(const std::vector<std::vector<int32_t>>& prompts,
                                             const GenerateOptions& options, const TokenCallback& on_token) override;

 private:
  bridge::ModelConfig config_;
  std::shared_ptr<ProcessGroup> run_;
  std::unique_ptr<Communicator> world_;  // every rank, over TCP: the host's decisions
  std::unique_ptr<Model> rank_;
};

}  // namespace mb::engine
