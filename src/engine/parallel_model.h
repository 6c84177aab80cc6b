// A model split over tensor-parallel ranks and pipeline stages that are threads of this process (one process
// drives every rank), each rank holding only its part (rank_plan.h) on a backend and computing with the others
// through LocalGroups (communicator.h; a GPU rank stages them through host memory or replaces them by NCCL). Every call runs on all ranks at once, as Megatron's ranks run
// the same program; each rank ends with the whole logits, so sampling chooses the same token everywhere, and
// rank 0's answer is returned. A failing rank stops the others (their collectives are aborted) and its error is
// the call's.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "engine/communicator.h"
#include "engine/model.h"
#include "engine/rank_plan.h"

namespace mb::engine {

// A rank's model from its part of the source (rank_source) and its role, whose communicators are members of
// this process's LocalGroups.
using RankFactory = std::function<std::unique_ptr<Model>(const bridge::ParamSource& part, const RankRole& role)>;

// The callback each rank gives its generate: member 0 of `world` asks the host's `on_token` (when there is one)
// whether to go on, and every member hears the answer, so all ranks end each sequence at the same step.
TokenCallback asked_on_rank_zero(const TokenCallback& on_token, Communicator& world);

class ParallelModel final : public Model {
 public:
  // Reads each rank's part of `source` (sliced from whatever layout the source has) into the model
  // `make_rank` makes of it (by default the CPU backend's).
  ParallelModel(const bridge::ParamSource& source, const ParallelOptions& options, const RankFactory& make_rank = {});
  ~ParallelModel() override;

  const bridge::ModelConfig& config() const override { return config_; }
  const ParallelOptions& options() const { return options_; }
  std::vector<float> forward(const std::vector<int32_t>& ids) override;
  std::vector<float> forward(const std::vector<int32_t>& ids, const std::vector<Image>& images) override;
  std::vector<float> forward_traced(const std::vector<int32_t>& ids, const ModuleHook& hook) override;
  std::vector<std::vector<int32_t>> generate(const std::vector<std::vector<int32_t>>& prompts,
                                             const GenerateOptions& options, const TokenCallback& on_token) override;

 private:
  // run(rank) on a thread per rank; the first failure is rethrown once every thread has ended.
  template <class Run>
  void on_every_rank(const Run& run);

  bridge::ModelConfig config_;
  ParallelOptions options_;
  std::vector<std::shared_ptr<LocalGroup>> groups_;  // per stage its tensor group, per tensor rank its pipeline, the world
  std::vector<std::unique_ptr<Communicator>> world_;  // every rank's member of the world group, by rank
  std::vector<std::unique_ptr<Model>> ranks_;
};

}  // namespace mb::engine
