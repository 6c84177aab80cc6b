// The CUDA backend: a model's weights in bf16 on one GPU, the forward pass on cuBLAS and the kernels in
// kernels/ (float32 accumulation and float32 activations between the matrix multiplications), a bf16
// key/value cache, batched generation of prompts of different lengths, decode steps replayed as a CUDA graph.
// No CUDA type appears here, so the C API and the command include it in any build (only CUDA builds define it).
#pragma once

#include <memory>
#include <optional>

#include "engine/model.h"

namespace mb::engine {

class CudaModel final : public Model {
 public:
  // Reads every parameter of `source` onto GPU `device`; kUnsupported for what the kernels cannot compute,
  // kCuda when there is no such GPU or too little memory. With a role, `source` is a rank's part (rank_source)
  // and each call is one collective call of a parallel run (parallel_model.h); the role's host communicators
  // are staged through host memory, its NCCL ones bound to this model's stream.
  CudaModel(const bridge::ParamSource& source, int device, const std::optional<RankRole>& role = std::nullopt);
  ~CudaModel() override;
  const bridge::ModelConfig& config() const override;
  std::vector<float> forward(const std::vector<int32_t>& ids) override;
  std::vector<float> forward(const std::vector<int32_t>& ids, const std::vector<Image>& images) override;
  // The forward pass with every module's output statistics (module_trace.h), computed from the bf16 or
  // float32 buffers the CUDA path really produces; slower (each module's output is copied back).
  std::vector<float> forward_traced(const std::vector<int32_t>& ids, const ModuleHook& hook) override;
  // An encoder's (BERT's) masked-LM logits of one unpadded sequence, every position seeing every other;
  // token_types empty: all 0.
  std::vector<float> encode(const std::vector<int32_t>& ids, const std::vector<int32_t>& token_types);
  std::vector<std::vector<int32_t>> generate(const std::vector<std::vector<int32_t>>& prompts,
                                             const GenerateOptions& options, const TokenCallback& on_token) override;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace mb::engine
