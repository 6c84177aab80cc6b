#include "engine/distributed_model.h"

#include <cstring>
#include <numeric>

#include "core/device_memory.h"
#include "core/error.h"
#include "engine/cpu/cpu_model.h"
#include "engine/parallel_model.h"
#ifdef MB_WITH_CUDA
#include <cuda_runtime.h>

#include "engine/cuda/cuda_check.h"
#include "engine/cuda/cuda_model.h"
#include "engine/cuda/device_collectives.h"
#endif

namespace mb::engine {

DistributedModel::DistributedModel(const bridge::ParamSource& source, const ParallelOptions& options,
                                   const std::string& device, const LaunchInfo& launch)
    : config_(source.config()) {
  const int tp = options.tp, pp = options.pp;
  if (launch.world != tp * pp)
    fail(Status::kInvalidArgument, "the launcher (", launch.launcher, ") started ", launch.world,
         " processes, and tensor parallel ", tp, " x pipeline parallel ", pp, " needs ", tp * pp);
  validate_parallel(config_, options, source.path());
  run_ = ProcessGroup::connect(launch, launch.timeout_seconds);
  const RankPlan plan = RankPlan::of(options, launch.rank);
  std::vector<int> everyone(static_cast<size_t>(launch.world));
  std::iota(everyone.begin(), everyone.end(), 0);
  // (every rank makes its groups in this order)
  std::shared_ptr<Communicator> tensor = run_->group(plan.tensor_group()), pipeline = run_->group(plan.pipeline_group());
  world_ = run_->group(everyone);
  const std::unique_ptr<bridge::ParamSource> part = rank_source(source, plan);
  if (device == "cpu") {
    rank_ = std::make_unique<CpuModel>(*part, RankRole{plan, tensor, pipeline});
    return;
  }
  if (device != "cuda" && device.rfind("cuda:", 0) != 0)
    fail(Status::kInvalidArgument, "unknown device '", device, "' (cpu, cuda or cuda:N)");
#ifdef MB_WITH_CUDA
  const int gpu = device == "cuda" ? launch.local_rank : std::stoi(device.substr(5));
  // (after the rendezvous, so that the other ranks hear of this one's failure instead of waiting for it)
  if (const int visible = cuda_device_count(); gpu < 0 || gpu >= visible)
    fail(Status::kInvalidArgument, "rank ", launch.rank, " takes GPU ", gpu,
         device == "cuda" ? " (its local rank)" : "", "; GPUs visible: ", visible);
  cuda::check(cudaSetDevice(gpu), "selecting the GPU");
  // Every rank has its GPU before any joins NCCL, whose set-up would wait for ever on a rank that failed; one
  // that failed has closed its connections, and this sum then fails naming it.
  float ready = 1.f;
  world_->all_reduce_sum(&ready, 1);
  // rank 0's NCCL group id, handed round as 32 floats' bytes (a broadcast copies them bit for bit)
  cuda::NcclId id{};
  if (launch.rank == 0) id = cuda::nccl_new_id();
  std::vector<float> carrier(id.size() / sizeof(float));
  std::memcpy(carrier.data(), id.data(), id.size());
  world_->broadcast(carrier.data(), carrier.size(), 0);
  std::memcpy(id.data(), carrier.data(), id.size());
  const std::shared_ptr<Communicator> all = cuda::nccl_member(id, launch.world, launch.rank);
  const RankRole role{plan, cuda::nccl_split(all, plan.pp_rank, plan.tp_rank), cuda::nccl_split(all, tp + plan.tp_rank, plan.pp_rank)};
  rank_ = std::make_unique<CudaModel>(*part, gpu, role);
#else
  fail(Status::kUnsupported, "device '", device, "': this mbridge was built without CUDA");
#endif
}

DistributedModel::~DistributedModel() = default;

std::vector<std::vector<int32_t>> DistributedModel::generate(const std::vector<std::vector<int32_t>>& prompts,
                                                              const GenerateOptions& options, const TokenCallback& on_token) {
  // (each process passes its own callback, and no rank knows whether rank 0's is empty: every step is heard)
  return rank_->generate(prompts, options, asked_on_rank_zero(on_token, *world_));
}

}  // namespace mb::engine
