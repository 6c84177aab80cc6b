// A model on a backend: what the C API, the command and the tests run, whichever backend holds the weights
// (cpu/: the float32 reference; cuda/: bf16 weights on one GPU).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bridge/model_config.h"
#include "engine/generate.h"
#include "engine/module_trace.h"
#include "engine/rank_plan.h"

namespace mb::bridge {
class ParamSource;
}

namespace mb::engine {

class Model {
 public:
  virtual ~Model() = default;
  virtual const bridge::ModelConfig& config() const = 0;
  // Logits [ids.size() x vocab_size] of one sequence, row by row, on the host.
  virtual std::vector<float> forward(const std::vector<int32_t>& ids) = 0;
  // The same for a prompt whose image tokens stand for `images` (LLaVA); backends that read no images answer
  // kUnsupported when there are any.
  virtual std::vector<float> forward(const std::vector<int32_t>& ids, const std::vector<Image>& images);
  // The same, reporting every module's output statistics to `hook` (module_trace.h). The CPU reference does;
  // other backends answer kUnsupported.
  virtual std::vector<float> forward_traced(const std::vector<int32_t>& ids, const ModuleHook& hook);
  // The new tokens of each prompt (generate.h says how sequences end and what the callback sees).
  virtual std::vector<std::vector<int32_t>> generate(const std::vector<std::vector<int32_t>>& prompts,
                                                     const GenerateOptions& options, const TokenCallback& on_token) = 0;
};

// Every parameter of `source` on the backend named by `device` ("cpu", "cuda" or "cuda:N"); kUnsupported for
// "cuda" in a build without CUDA or on a machine without a GPU. With tensor or pipeline parallelism, the
// ranks are threads of this process (parallel_model.h): on the CPU, on one GPU ("cuda:N", collectives staged
// through host memory), or rank r on GPU r ("cuda", NCCL between them); with one_process_per_rank, this
// process is one rank of a launcher's run (distributed_model.h).
std::unique_ptr<Model> load_model(const bridge::ParamSource& source, const std::string& device,
                                  const ParallelOptions& parallel = {});

}  // namespace mb::engine
