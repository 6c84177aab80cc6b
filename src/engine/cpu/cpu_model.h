// The float32 reference forward pass on the CPU: every parameter of a model (read through the bridge, so
// from a Hugging Face folder or straight from a Megatron checkpoint of any layout) held as float32 in
// Megatron's layout, and the transformer computed plainly, in the order transformers computes it. It is
// the yardstick the CUDA backend is checked against, and what runs where there is no GPU.
// Llama-family decoders: RMSNorm, rotary embeddings (default, linear, llama3), grouped-query attention with
// optional q/k/v bias and q/k norms, SwiGLU MLPs or top-k mixtures of SwiGLU experts, DeepSeek-V3's multi-latent
// attention and sigmoid-routed experts with shared experts, tied or separate
// output layer, MiniCPM's scales, Gemma's (1 + w) norms and GeGLU, Gemma-2's sandwich norms, soft-capping and
// sliding windows; GPT-2's LayerNorm, learned positions, biases and plain GELU MLP; BERT as an encoder (every
// position sees every other, token types, residuals taken after the norms, the masked-LM head).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <memory>
#include <tuple>
#include <utility>
#include <vector>

#include "bridge/model_config.h"
#include "bridge/params.h"
#include "engine/communicator.h"
#include "engine/model.h"
#include "engine/qwen_vision_plan.h"
#include "engine/rank_plan.h"

namespace mb::bridge {
class ParamSource;
}

namespace mb::engine {

// One sequence's keys and values, layer by layer, as positions are computed: what lets generation compute
// only the new token at each step.
struct CpuCache {
  std::vector<std::vector<float>> keys, values;  // [layer][position][query group][head dim]
  int64_t length = 0;                             // positions held
  // Qwen2.5-VL: how far the rotary position of the next token is ahead of its index (images take fewer
  // positions than tokens)
  int64_t position_delta = 0;
  // Between start and finish: the rows begun, and (last pipeline stage) their logits.
  int64_t pending_rows = 0;
  std::vector<float> pending_logits;
};

class CpuModel final : public Model {
 public:
  // Reads and casts every parameter of `source`; throws kUnsupported for what the forward cannot compute.
  // With a role, `source` is the rank's (rank_source) and every forward pass is one collective call of the
  // run: each rank computes its part, and every rank returns the whole logits.
  explicit CpuModel(const bridge::ParamSource& source, std::optional<RankRole> role = std::nullopt);

  // Logits [ids.size() x vocab_size], row by row, for one sequence starting at position 0.
  std::vector<float> forward(const std::vector<int32_t>& ids) const;
  std::vector<float> forward(const std::vector<int32_t>& ids) override { return std::as_const(*this).forward(ids); }
  std::vector<float> forward(const std::vector<int32_t>& ids, const std::vector<Image>& images) override;
  // The same for ids that continue the sequence held in `cache` (their positions follow it); the cache grows.
  // With a hook, every module's output over the new positions is reported as the module finishes.
  // token_types: BERT's, one per id (null: all 0). images: what the ids' image tokens stand for (LLaVA).
  std::vector<float> forward(CpuCache* cache, const std::vector<int32_t>& ids, const ModuleHook* hook = nullptr,
                             const std::vector<int32_t>* token_types = nullptr,
                             const std::vector<Image>* images = nullptr) const;
  // forward() in two halves, so that a pipeline stage can begin the next sequence while later stages take this
  // one: forward_start computes this rank's part and hands it on (a stage before the last sends its residual
  // stream; the last keeps the logits and sends them back to the others); forward_finish returns the logits.
  void forward_start(CpuCache* cache, const std::vector<int32_t>& ids, const ModuleHook* hook = nullptr,
                     const std::vector<int32_t>* token_types = nullptr,
                     const std::vector<Image>* images = nullptr) const;
  std::vector<float> forward_finish(CpuCache* cache) const;
  // LLaVA: an image's features as the language model takes them, [image_tokens() x hidden_size]: the CLIP
  // tower up to its feature layer (the class token dropped), then the projector (cpu_vision.cpp).
  std::vector<float> image_features(const Image& image) const;
  // Qwen2.5-VL: an image's features [merged patches x hidden_size] from its patches and grid: the vision tower
  // and its merger (cpu_qwen_vision.cpp).
  std::vector<float> qwen_image_features(const Image& image) const;
  // Qwen2.5-VL's (time, row, column) rotary positions of ids that follow `start` earlier ones (transformers'
  // get_rope_index; qwen_vision_plan.h). `delta`: CpuCache::position_delta, updated.
  std::vector<std::array<int64_t, 3>> mrope_positions(const std::vector<int32_t>& ids, const std::vector<Image>* images,
                                                      int64_t start, int64_t* delta) const;
  // An encoder's (BERT's) masked-LM logits [ids.size() x vocab_size] of one unpadded sequence, every position
  // seeing every other; token_types empty: all 0.
  std::vector<float> encode(const std::vector<int32_t>& ids, const std::vector<int32_t>& token_types) const;
  std::vector<float> forward_traced(const std::vector<int32_t>& ids, const ModuleHook& hook) override;
  const bridge::ModelConfig& config() const override { return config_; }
  std::vector<std::vector<int32_t>> generate(const std::vector<std::vector<int32_t>>& prompts,
                                             const GenerateOptions& options, const TokenCallback& on_token) override;

 private:
  using Key = std::tuple<int, int, int>;  // ParamKind, layer, expert
  const std::vector<float>& param(int kind, int layer = -1, int expert = -1) const;
  // The model's norm of one hidden-size row: RMSNorm(weight), or LayerNorm(weight, bias) (GPT-2).
  void norm(const float* x, bridge::ParamKind weight, bridge::ParamKind bias, int layer, float* out) const;
  // y += the linear layer's bias, where the model has biases (GPT-2, BERT)
  void add_bias(bridge::ParamKind kind, int layer, int64_t n, float* y) const;
  // BERT's masked-LM head before the output layer: LayerNorm(GELU(dense(h)))
  void lm_head_transform(std::vector<float>* h) const;
  // Multi-latent attention's q [heads x q_head], k [heads x q_head] and v [heads x v_head] of one position
  // from its normalised hidden state h.
  void mla_project(int layer, const float* h, int64_t position, float* q, float* k, float* v) const;
  // The router's chosen experts for h and their weights: softmax or sigmoid scores, DeepSeek's expert bias and
  // group limit, renormalised and scaled as the model says.
  std::vector<std::pair<int64_t, double>> route(int layer, const float* h) const;
  // LLaVA and Qwen2.5-VL: the embeddings x [ids x hidden] with each image token's row replaced by the next
  // image feature
  void merge_images(const std::vector<int32_t>& ids, const std::vector<Image>* images, float* x) const;
  void merge_qwen_images(const std::vector<int32_t>& ids, const std::vector<Image>* images, float* x) const;
  // a Hugging Face tensor the model holds under its own name (ParamKind::kVerbatim)
  const std::vector<float>& verbatim(const std::string& name) const;

  // Parallel runs: the sum of every tensor-parallel rank's part of a row-parallel product (nothing alone).
  void reduce_parts(float* data, size_t n) const;
  // Whether this rank adds the biases of row-parallel products (one rank does, before the parts are summed).
  bool adds_row_parallel_bias() const { return !role_ || role_->plan.tp_rank == 0; }
  // The first vocabulary row of this rank's part of the embedding and output layer.
  int64_t first_vocab_row() const { return role_ ? role_->plan.tp_rank * vocab_rows_ : 0; }

  bridge::ModelConfig config_;
  std::optional<RankRole> role_;
  std::vector<float> inv_freq_;  // rotary inverse frequencies, once per model
  float rotary_factor_ = 1.f;    // what rotated values are multiplied by (yarn's attention factor)
  int64_t vocab_rows_ = 0;
  std::map<Key, std::vector<float>> params_;
  std::map<std::string, int> verbatim_index_;  // name -> ParamKey::layer of a kVerbatim parameter
  std::optional<QwenTowerShape> qwen_tower_;    // Qwen2.5-VL's vision tower, read from the config at load
};

}  // namespace mb::engine
