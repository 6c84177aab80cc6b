// Inside the CUDA backend: the weights on the device and the decoder over a batch of token rows, shared by
// the forward pass (cuda_model.cpp) and generation (cuda_generate.cpp).
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bridge/model_config.h"
#include "core/tensor.h"
#include "engine/cuda/cuda_model.h"
#include "engine/cuda/device_pool.h"
#include "engine/image.h"
#include "engine/module_trace.h"
#include "engine/qwen_vision_plan.h"
#include "kernels/kernels.h"

namespace mb::engine {

using kernels::bf16;

struct LayerWeights {
  const bf16* qkv = nullptr;
  const float* qkv_bias = nullptr;
  const float* input_norm = nullptr;
  const float* q_norm = nullptr;
  const float* k_norm = nullptr;
  const bf16* proj = nullptr;
  const float* pre_mlp_norm = nullptr;
  const float* post_attn_norm = nullptr;  // Gemma-2
  const float* post_mlp_norm = nullptr;   // Gemma-2
  // GPT-2: LayerNorm biases and the linear layers' biases
  const float* input_norm_bias = nullptr;
  const float* pre_mlp_norm_bias = nullptr;
  const float* proj_bias = nullptr;
  const float* fc1_bias = nullptr;
  const float* fc2_bias = nullptr;
  const bf16* fc1 = nullptr;
  const bf16* fc2 = nullptr;
  const bf16* router = nullptr;
  std::vector<float> router_bias;  // DeepSeek's expert bias, on the host (routing is planned there)
  std::vector<const bf16*> expert_fc1, expert_fc2;
  const bf16* shared_fc1 = nullptr;  // DeepSeek's shared experts
  const bf16* shared_fc2 = nullptr;
  // multi-latent attention (DeepSeek): q as down, norm, up (or one projection); kv as down, norm, up
  const bf16* q_down = nullptr;
  const float* q_up_norm = nullptr;
  const bf16* q_up = nullptr;
  const bf16* q_proj = nullptr;
  const bf16* kv_down = nullptr;
  const float* kv_up_norm = nullptr;
  const bf16* kv_up = nullptr;
};

// LLaVA's CLIP tower and projector (norms, biases, class token and positions in float32).
struct VisionWeights {
  struct Layer {
    const float *input_norm = nullptr, *input_norm_bias = nullptr, *pre_mlp_norm = nullptr, *pre_mlp_norm_bias = nullptr;
    const bf16 *qkv = nullptr, *proj = nullptr, *fc1 = nullptr, *fc2 = nullptr;
    const float *qkv_bias = nullptr, *proj_bias = nullptr, *fc1_bias = nullptr, *fc2_bias = nullptr;
  };
  const bf16* patch = nullptr;  // the convolution as [hidden, channels * patch * patch]
  const float *class_token = nullptr, *positions = nullptr, *pre_norm = nullptr, *pre_norm_bias = nullptr;
  std::vector<Layer> layers;
  const bf16 *projector_fc1 = nullptr, *projector_fc2 = nullptr;
  const float *projector_fc1_bias = nullptr, *projector_fc2_bias = nullptr;
};

// Qwen2.5-VL's vision tower and merger (norms and biases in float32). Each block's q/k/v rows are regrouped
// head by head ([q, k, v] of head 0, then head 1, ...) as rope_qkv takes them; gate and up are one matrix.
struct QwenVisionWeights {
  struct Block {
    const float *norm1 = nullptr, *norm2 = nullptr, *qkv_bias = nullptr, *proj_bias = nullptr, *gate_up_bias = nullptr,
                *down_bias = nullptr;
    const bf16 *qkv = nullptr, *proj = nullptr, *gate_up = nullptr, *down = nullptr;
  };
  const bf16* patch = nullptr;  // the Conv3d as [hidden, channels * temporal * patch * patch]
  std::vector<Block> blocks;
  const float *merger_norm = nullptr, *merger_fc0_bias = nullptr, *merger_fc2_bias = nullptr;
  const bf16 *merger_fc0 = nullptr, *merger_fc2 = nullptr;
};

// Keys and values of `batch` sequences, each up to `length` positions: [layer][sequence][position][group][d]
// (a pipeline stage's layers only, the first of them at 0).
struct KvCache {
  cuda::PoolBuffer k, v;
  int batch = 0;
  int64_t length = 0;
  size_t layer_elements = 0;
};

// The activations of `rows` token rows (prefill: every prompt token; decode: one per sequence).
struct Activations {
  int64_t rows = 0;
  cuda::PoolBuffer x, h, qkv, attn, delta, gate_up, act;                                      // dense path
  cuda::PoolBuffer q;  // prefill only: rotated queries (decode attention rotates its own)
  cuda::PoolBuffer router_logits, top_experts, top_weights, moe_in, moe_out, gather_index, slot_rows;  // MoE
  cuda::PoolBuffer mla_q, mla_compressed, mla_latent, mla_kv;  // multi-latent attention's projections
  cuda::PoolBuffer seq, pos;  // each row's sequence and position (int32)
  // The residual stream is x, plus delta (times MiniCPM's depth scale) while delta_pending: the large-batch
  // path leaves a layer's output there for the next norm kernel to add; the small-batch path adds it at once.
  bool delta_pending = false;
};

// How attention finds each row's keys: whole prompts (prefill) or one new token per sequence (decode).
struct AttentionPlan {
  bool decode = false;
  const int32_t* offsets = nullptr;  // prefill: first row of each sequence
  const int32_t* lengths = nullptr;  // prefill: rows of each sequence
  int max_length = 0;                // prefill: the longest
  const int32_t* positions = nullptr;  // decode: each sequence's new position (== pos of its row)
  const float* angles = nullptr;          // prefill, Qwen2.5-VL: each row's rotary angles [rows][head_dim / 2]
  const int32_t* rotary_offsets = nullptr;  // decode, Qwen2.5-VL: how far each sequence's rotary position is ahead
  int splits = 0;                      // decode
  void* workspace = nullptr;           // decode (zeroed once; attention_decode keeps it so)
  // The cache's sequences these rows belong to: [first_sequence, first_sequence + sequences) (a pipeline
  // micro-batch; the rows' own sequence numbers count from first_sequence). Decode: one row per sequence.
  int first_sequence = 0;
  int sequences = 0;
};

// Prompts back to back as the prefill pass takes them: each row's token, sequence and position, each
// sequence's first row, length and last row. Token ids are checked against the vocabulary here.
struct PromptLayout {
  std::vector<int32_t> ids, seq, pos, offsets, lengths, last_rows;
  std::vector<int32_t> types;  // BERT's token types, one per id (empty: all 0)
  std::vector<std::vector<Image>> images;  // LLaVA, Qwen2.5-VL: per sequence, what its image tokens stand for
  int64_t longest = 0;
  PromptLayout(const std::vector<std::vector<int32_t>>& prompts, int64_t vocab_size);
  int64_t rows() const { return static_cast<int64_t>(ids.size()); }
  int batch() const { return static_cast<int>(offsets.size()); }
};

struct CudaModel::Impl {
  Impl(const bridge::ParamSource& source, int device, const std::optional<RankRole>& role = std::nullopt);
  ~Impl();

  Activations activations(int64_t rows, bool prefill);  // prefill: with the rotated-query buffer
  KvCache kv_cache(int batch, int64_t length);
  // Runs every layer over a.rows rows whose embeddings are in a.x; the residual stream after the last layer
  // is left in a (see Activations::delta_pending). May synchronise (MoE routing is planned on the host).
  void decoder(Activations& a, const AttentionPlan& plan, KvCache& cache);
  // The final norm of every row (with MiniCPM's logit scale) into a.h.
  void final_norm(Activations& a);
  // The prefill pass: every prompt token through every layer (keys and values into `cache`, whose batch is
  // the layout's); the activations hold every row's final hidden states in h. Qwen2.5-VL: how far each
  // sequence's next rotary position is ahead of its length goes into rotary_offsets, when given.
  // The layout's sequences are the cache's from first_sequence on (a pipeline micro-batch).
  Activations prefill(const PromptLayout& layout, KvCache& cache, std::vector<int32_t>* rotary_offsets = nullptr,
                      int first_sequence = 0);
  // A decode step's logits[rows x vocab] (on the last stage: see logits) from the residual stream the decoder
  // left (final norm included). With argmax_keys (only where small_batch), each row's argmax also goes there
  // (kernels::gemv_rms_norm).
  void step_logits(Activations& a, float* out, unsigned long long* argmax_keys);
  // Whether a.rows are few enough for the matrix-vector kernels that fold the norms, residual adds and SwiGLU
  // in (a decode step of one or two sequences).
  bool small_batch(const Activations& a) const;
  // The embedding rows of `rows` token ids (device memory) into x, with MiniCPM's scale, plus (GPT-2) the
  // learned embeddings of the rows' positions.
  void embed(const int32_t* ids, const int32_t* positions, int64_t rows, float* x, const int32_t* types = nullptr);
  // BERT's masked-LM head before the output layer, on the final norm's output: a.h = LayerNorm(GELU(dense(a.h))).
  void lm_head(Activations& a);
  // Logits of every row of one sequence (prefill, BERT's head, the output layer), copied back.
  std::vector<float> forward_rows(const PromptLayout& layout);
  // logits[rows x vocab] from bf16 final hidden states, on the last pipeline stage (share_logits hands them to
  // the others, kept apart so that a stage can begin the next micro-batch first).
  void logits(const bf16* h, int64_t rows, float* out);
  void share_logits(float* out, int64_t rows);
  void soft_cap_logits(float* out, int64_t rows);  // Gemma-2's final soft cap (nothing elsewhere)
  // Whether a greedy decode step of these rows can choose its tokens inside the output layer's kernel.
  bool argmax_in_output_layer(const Activations& a) const;

  bridge::ModelConfig config;
  int device = 0;
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  cuda::DeviceAllocation cublas_workspace;
  std::unique_ptr<cuda::DevicePool> pool;
  std::vector<cuda::DeviceAllocation> storage;  // every weight
  const bf16* embedding = nullptr;
  const bf16* output = nullptr;  // the embedding when tied
  const float* final_norm_weight = nullptr;
  const float* final_norm_bias = nullptr;       // GPT-2
  const bf16* position_embedding = nullptr;     // GPT-2
  // BERT: token-type embeddings, the masked-LM head, the output layer's bias
  const bf16* token_type_embedding = nullptr;
  const bf16* lm_head_dense = nullptr;
  const float* lm_head_dense_bias = nullptr;
  const float* lm_head_norm = nullptr;
  const float* lm_head_norm_bias = nullptr;
  const float* output_bias = nullptr;
  const float* inv_freq = nullptr;              // null without rotary embeddings (GPT-2)
  double rotary_factor = 1.0;                   // yarn's attention factor on rotated values (rope.h)
  std::vector<LayerWeights> layers;
  VisionWeights vision;  // LLaVA
  // LLaVA (cuda_vision.cpp): an image's features [image_tokens x hidden] into `out` (device), and the prompt
  // rows' embeddings x of the image tokens replaced by them, in order.
  void image_features(const Image& image, float* out);
  void merge_images(const PromptLayout& layout, float* x);
  // Qwen2.5-VL (cuda_qwen_vision.cpp): the tower's weights from transformers' tensors (by name, on the host);
  // an image's features [image tokens x hidden] in image order into `out`; the prompt rows' image tokens
  // replaced by them; each prompt row's multimodal rotary angles [rows][head_dim / 2] (qwen_vision_plan.h)
  // and how far each sequence's next rotary position is ahead of its length.
  void load_qwen_tower(const std::map<std::string, Tensor>& tensors);
  void qwen_image_features(const Image& image, float* out);
  void merge_qwen_images(const PromptLayout& layout, float* x);
  std::vector<float> mrope_angles(const PromptLayout& layout, std::vector<int32_t>* rotary_offsets) const;
  std::optional<QwenTowerShape> qwen_tower;
  QwenVisionWeights qwen_vision;
  std::vector<float> inv_freq_host;  // the rotary frequencies, for the multimodal angles
  kernels::QkvShape shape{};  // with the score scale and soft cap; the window is per layer (layer_shape)
  bool use_graphs = true;  // MB_CUDA_GRAPHS=0 turns them off (for comparison)
  // Pipeline stages split decode steps into micro-batches only from this many rows a micro-batch: a step of
  // fewer rows costs about the same whatever its rows (each stage's weights are read once per pass; 1.20 ms at
  // batch 1, 1.55 ms at batch 32 on an H100, docs/performance.md), so splitting it would only add passes. The
  // prefill, whose rows are every prompt token, is always split. MB_CUDA_DECODE_MICRO_BATCH_ROWS sets it.
  int decode_micro_batch_rows = 256;
  // A rank of a parallel run: its plan and its groups, on this model's stream (device_collectives.h).
  std::optional<RankRole> role;
  bool parallel() const { return role && role->plan.options.parallel(); }
  bool tensor_parallel() const { return role && role->tensor_parallel(); }
  bool first_stage() const { return !role || role->plan.first_stage(); }
  bool last_stage() const { return !role || role->plan.last_stage(); }
  LayerRange layers_here() const;
  // The sum over the tensor-parallel ranks of their parts of a row-parallel product (nothing alone).
  void reduce_parts(float* data, int64_t n);
  // Biases of row-parallel products are added by one rank, before the parts are summed.
  bool adds_row_parallel_bias() const { return !role || role->plan.tp_rank == 0; }
  // The pending layer output folded into the residual stream x (before a stage hands x on).
  void settle_residual(Activations& a);
  int64_t vocab_rows = 0;  // of the embedding and output weights (padded vocabulary)
  // While forward_traced runs: where every module's output goes. Tracing takes the separate-kernel path
  // (small_batch is false), where each module's output is in a buffer of its own.
  const ModuleHook* trace_hook = nullptr;
  // The module's output (the record's output shape, float32 or bf16 on the device, divided by scaled_by)
  // copied back, its statistics filled in, given to the hook. Synchronises.
  void trace(ModuleRecord record, const void* values, bool bf16_values, float scaled_by = 1.f);
  std::vector<float> host_copy(const float* values, size_t count);  // synchronises

 private:
  void load(const bridge::ParamSource& source);  // the stream, cuBLAS, the pool, every weight
  const void* upload(const void* data, size_t bytes, const char* what);  // a weight into storage
  void release() noexcept;
  // One layer's halves; each adds its output to the residual stream (or leaves it pending).
  void attention(Activations& a, const LayerWeights& w, int layer, const AttentionPlan& plan, KvCache& cache);
  void mlp(Activations& a, const LayerWeights& w, int layer);
  void moe(Activations& a, const LayerWeights& w);  // from the normalised a.h
  // The large-batch path's norm: a.h = norm(residual stream) (adding a pending delta into x); LayerNorm when
  // given a bias.
  void norm_into_h(Activations& a, const float* weight, float out_scale, const float* bias = nullptr);
  float depth_scale() const;  // MiniCPM's scale of every layer's output (1 elsewhere)
  kernels::GateActivation gate_activation() const;  // of the gated MLP (Gemma: GeGLU)
  float logit_scale() const;  // MiniCPM's scale of the final hidden states (1 elsewhere)
  // A branch's output in a.delta joins the residual stream: through its post norm (Gemma-2) at once, else
  // left pending for the next norm kernel to add.
  void branch_done(Activations& a, const float* post_norm);
  void mla_qkv(Activations& a, const LayerWeights& w);
  Tensor padded_mla_proj(const Tensor& proj) const;
  // Whether the router's choice is made on the host (route_token) rather than by kernels::moe_route, which
  // knows softmax top-k only.
  bool routed_on_host() const;
  // Widths of the fused q/k/v rows and of the attention output (multi-latent attention: every head its own
  // group, v padded to the q/k head size).
  int64_t qkv_width() const { return static_cast<int64_t>(shape.heads + 2 * shape.groups) * shape.head_dim; }
  int64_t attention_width() const { return static_cast<int64_t>(shape.heads) * shape.head_dim; }
  kernels::QkvShape layer_shape(int layer) const;  // shape with the layer's sliding window
};

}  // namespace mb::engine
