#include <cstdlib>

#include "bridge/param_source.h"
#include "core/error.h"
#include "engine/cpu/cpu_model.h"
#include "engine/model.h"
#include "engine/distributed_model.h"
#include "engine/parallel_model.h"
#ifdef MB_WITH_CUDA
#include "core/device_memory.h"
#include "engine/cuda/cuda_model.h"
#include "engine/cuda/device_collectives.h"
#endif

namespace mb::engine {

std::vector<float> Model::forward_traced(const std::vector<int32_t>&, const ModuleHook&) {
  fail(Status::kUnsupported, "module hooks (--debug-hooks) are not available on this backend");
}

std::vector<float> Model::forward(const std::vector<int32_t>& ids, const std::vector<Image>& images) {
  if (!images.empty()) fail(Status::kUnsupported, config().family, " on this backend: images are not read here");
  return forward(ids);
}

#ifdef MB_WITH_CUDA
namespace {

// A parallel run on GPUs: every rank on GPU `shared` (their collectives staged through host memory), or with
// shared < 0 rank r on GPU r, the ranks' groups made of NCCL communicators.
std::unique_ptr<Model> parallel_on_gpus(const bridge::ParamSource& source, const ParallelOptions& o, int shared) {
  const int world = o.tp * o.pp;
  if (shared >= 0) {
    return std::make_unique<ParallelModel>(source, o, [shared](const bridge::ParamSource& part, const RankRole& role) {
      return std::make_unique<CudaModel>(part, shared, role);
    });
  }
  const int visible = cuda_device_count();
  if (visible < world)
    fail(Status::kInvalidArgument, o.tp, " x ", o.pp, " ranks need ", world, " GPUs, ", visible,
         " visible (name one, cuda:N, to run every rank on it)");
  validate_parallel(source.config(), o, source.path());
  if (!cuda::nccl_available())
    fail(Status::kUnsupported, "a run over several GPUs needs NCCL, and this mbridge was built without it "
         "(name one GPU, cuda:N, to run every rank on it)");
  // rank r on GPU r: each stage's tensor group (from its rank 0), each tensor rank's pipeline (from stage 0)
  std::vector<std::vector<std::shared_ptr<Communicator>>> tensor, pipeline;
  for (int s = 0; s < o.pp; ++s) tensor.push_back(cuda::nccl_group(RankPlan::of(o, s * o.tp).tensor_group()));
  for (int t = 0; t < o.tp; ++t) pipeline.push_back(cuda::nccl_group(RankPlan::of(o, t).pipeline_group()));
  return std::make_unique<ParallelModel>(source, o, [&](const bridge::ParamSource& part, const RankRole& role) {
    const RankPlan& p = role.plan;
    const RankRole nccl{p, tensor[static_cast<size_t>(p.pp_rank)][static_cast<size_t>(p.tp_rank)],
                        pipeline[static_cast<size_t>(p.tp_rank)][static_cast<size_t>(p.pp_rank)]};
    return std::make_unique<CudaModel>(part, p.rank(), nccl);
  });
}

}  // namespace
#endif

std::unique_ptr<Model> load_model(const bridge::ParamSource& source, const std::string& device,
                                  const ParallelOptions& parallel) {
  if (parallel.one_process_per_rank) {
    const std::optional<LaunchInfo> launch = launch_info();
    if (!launch)
      fail(Status::kInvalidArgument, "one process per rank needs a launcher's environment (RANK and WORLD_SIZE as "
           "torchrun sets them, or mpirun's or srun's)");
    return std::make_unique<DistributedModel>(source, parallel, device, *launch);
  }
  const bool split = parallel.parallel() || parallel.expert_parallel;
  if (device == "cpu") return split ? std::unique_ptr<Model>(std::make_unique<ParallelModel>(source, parallel))
                                    : std::make_unique<CpuModel>(source);
  if (device == "cuda" || device.rfind("cuda:", 0) == 0) {
    int index = 0;
    if (device.size() > 5) {
      char* end = nullptr;
      index = static_cast<int>(std::strtol(device.c_str() + 5, &end, 10));
      if (*end || index < 0) fail(Status::kInvalidArgument, "device '", device, "': expected cuda:N");
    }
#ifdef MB_WITH_CUDA
    if (split) return parallel_on_gpus(source, parallel, device.size() > 5 ? index : -1);
    return std::make_unique<CudaModel>(source, index);
#else
    fail(Status::kUnsupported, "device '", device, "': this mbridge was built without CUDA");
#endif
  }
  fail(Status::kInvalidArgument, "unknown device '", device, "' (cpu, cuda or cuda:N)");
}

}  // namespace mb::engine
