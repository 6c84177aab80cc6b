#include <cstdlib>

#include "bridge/param_source.h"
#include "core/error.h"
#include "engine/cpu/cpu_model.h"
#include "engine/model.h"
#include "engine/parallel_model.h"
#ifdef MB_WITH_CUDA
#include "engine/cuda/cuda_model.h"
#endif

namespace mb::engine {

std::vector<float> Model::forward_traced(const std::vector<int32_t>&, const ModuleHook&) {
  fail(Status::kUnsupported, "module hooks (--debug-hooks) are not available on this backend");
}

std::vector<float> Model::forward(const std::vector<int32_t>& ids, const std::vector<Image>& images) {
  if (!images.empty()) fail(Status::kUnsupported, config().family, " on this backend: images are not read here");
  return forward(ids);
}

std::unique_ptr<Model> load_model(const bridge::ParamSource& source, const std::string& device,
                                  const ParallelOptions& parallel) {
  if (parallel.parallel() || parallel.expert_parallel) {
    if (device != "cpu")
      fail(Status::kUnsupported, "device '", device, "': tensor- and pipeline-parallel runs are on the CPU backend "
           "only in this build (the NCCL ranks of the CUDA backend are not written yet)");
    return std::make_unique<ParallelModel>(source, parallel);
  }
  if (device == "cpu") return std::make_unique<CpuModel>(source);
  if (device == "cuda" || device.rfind("cuda:", 0) == 0) {
    int index = 0;
    if (device.size() > 5) {
      char* end = nullptr;
      index = static_cast<int>(std::strtol(device.c_str() + 5, &end, 10));
      if (*end || index < 0) fail(Status::kInvalidArgument, "device '", device, "': expected cuda:N");
    }
#ifdef MB_WITH_CUDA
    return std::make_unique<CudaModel>(source, index);
#else
    fail(Status::kUnsupported, "device '", device, "': this mbridge was built without CUDA");
#endif
  }
  fail(Status::kInvalidArgument, "unknown device '", device, "' (cpu, cuda or cuda:N)");
}

}  // namespace mb::engine
