#include "engine/parallel_model.h"

#include <exception>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "engine/cpu/cpu_model.h"

namespace mb::engine {

ParallelModel::ParallelModel(const bridge::ParamSource& source, const ParallelOptions& options,
                             const RankFactory& make_rank)
    : config_(source.config()), options_(options) {
  validate_parallel(config_, options, source.path());
  const int tp = options.tp, pp = options.pp, world = tp * pp;
  std::vector<std::shared_ptr<LocalGroup>> tensor, pipeline;
  for (int s = 0; s < pp; ++s) tensor.push_back(LocalGroup::create(tp));
  for (int r = 0; r < tp; ++r) pipeline.push_back(LocalGroup::create(pp));
  const std::shared_ptr<LocalGroup> everyone = LocalGroup::create(world);
  groups_ = tensor;
  groups_.insert(groups_.end(), pipeline.begin(), pipeline.end());
  groups_.push_back(everyone);
  for (int rank = 0; rank < world; ++rank) {
    const RankPlan plan = RankPlan::of(options, rank);
    const RankRole role{plan, tensor[static_cast<size_t>(plan.pp_rank)]->member(plan.tp_rank),
                        pipeline[static_cast<size_t>(plan.tp_rank)]->member(plan.pp_rank)};
    world_.push_back(everyone->member(rank));
    const std::unique_ptr<bridge::ParamSource> part = rank_source(source, plan);
    ranks_.push_back(make_rank ? make_rank(*part, role) : std::make_unique<CpuModel>(*part, role));
  }
}

ParallelModel::~ParallelModel() = default;

template <class Run>
void ParallelModel::on_every_rank(const Run& run) {
  std::mutex mutex;
  std::exception_ptr first;
  std::vector<std::thread> threads;
  for (int rank = 0; rank < static_cast<int>(ranks_.size()); ++rank)
    threads.emplace_back([&, rank] {
      try {
        run(rank);
      } catch (...) {
        {
          std::lock_guard<std::mutex> lock(mutex);
          if (!first) first = std::current_exception();  // (the others' kCancelled come after it)
        }
        for (const auto& g : groups_) g->abort();
      }
    });
  for (std::thread& t : threads) t.join();
  if (first) {
    for (const auto& g : groups_) g->reset();
    std::rethrow_exception(first);
  }
}

TokenCallback asked_on_rank_zero(const TokenCallback& on_token, Communicator& world) {
  return [&on_token, &world](size_t sequence, int64_t step, int32_t token, const float* logits) {
    float go_on = 1.f;
    if (world.rank() == 0 && on_token) go_on = on_token(sequence, step, token, logits) ? 1.f : 0.f;
    world.broadcast(&go_on, 1, 0);
    return go_on != 0.f;
  };
}

std::vector<float> ParallelModel::forward(const std::vector<int32_t>& ids) {
  std::vector<std::vector<float>> logits(ranks_.size());
  on_every_rank([&](int rank) { logits[static_cast<size_t>(rank)] = ranks_[static_cast<size_t>(rank)]->forward(ids); });
  return logits[0];
}

std::vector<float> ParallelModel::forward(const std::vector<int32_t>& ids, const std::vector<Image>& images) {
  if (!images.empty()) fail(Status::kInvalidArgument, config_.family, " takes no images");
  return forward(ids);
}

std::vector<float> ParallelModel::forward_traced(const std::vector<int32_t>&, const ModuleHook&) {
  fail(Status::kUnsupported, "module traces of a tensor- or pipeline-parallel run (trace the model on one rank)");
}

std::vector<std::vector<int32_t>> ParallelModel::generate(const std::vector<std::vector<int32_t>>& prompts,
                                                           const GenerateOptions& options, const TokenCallback& on_token) {
  std::vector<std::vector<std::vector<int32_t>>> out(ranks_.size());
  on_every_rank([&](int rank) {
    // (without a host callback every rank knows the answer: nothing to hear)
    const TokenCallback each = on_token ? asked_on_rank_zero(on_token, *world_[static_cast<size_t>(rank)]) : TokenCallback{};
    out[static_cast<size_t>(rank)] = ranks_[static_cast<size_t>(rank)]->generate(prompts, options, each);
  });
  return out[0];
}

}  // namespace mb::engine
