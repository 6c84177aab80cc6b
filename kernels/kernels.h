// The CUDA kernels of the engine's CUDA backend (src/engine/cuda), one .cu file per operation. Every launcher
// queues its kernel on `stream` and returns at once; pointers are device memory. Activations between matrix
// multiplications are float32 (cuBLAS writes them so), what enters a matrix multiplication is bf16 (except in
// the decode-step products that fold the norm in: they read the float32 residual stream), weights are bf16
// and norm weights float32.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace mb::kernels {

using bf16 = __nv_bfloat16;

// embedding.cu: out[r] = table[ids[r]] * scale (float32 rows of `hidden`), plus position_table[pos[r]] when
// given (GPT-2's learned positions), plus type_table[types[r]] when given (BERT's token types; all 0 without
// types). With table_rows >= 0 the table holds only rows [table_first, table_first + table_rows) of the
// vocabulary (a tensor-parallel rank's): other ids take zeros for their token part.
void embedding(const int32_t* ids, int64_t rows, const bf16* table, int64_t hidden, float scale, float* out,
               cudaStream_t stream, const bf16* position_table = nullptr, const int32_t* pos = nullptr,
               const bf16* type_table = nullptr, const int32_t* types = nullptr, int64_t table_first = 0,
               int64_t table_rows = -1);
// embedding.cu: dst[r] = src[index[r]] (rows of `width` bf16).
void gather_rows(const bf16* src, const int32_t* index, int64_t rows, int64_t width, bf16* dst, cudaStream_t stream);

// rmsnorm.cu: the residual add fused with the next norm. For every row: x += delta * delta_scale (when delta is
// not null), then out = bf16(weight * x / sqrt(mean(x^2) + eps) * out_scale); with a bias, LayerNorm instead:
// out = bf16((weight * (x - mean(x)) / sqrt(var(x) + eps) + bias) * out_scale). With write_back, x becomes the
// norm's output (before out_scale): BERT's branches add to their normalised input.
void add_rms_norm(float* x, const float* delta, float delta_scale, const float* weight, int64_t rows, int64_t n,
                  float eps, float out_scale, bf16* out, cudaStream_t stream, const float* bias = nullptr,
                  bool write_back = false);
// rmsnorm.cu: a branch's output normalised, then added (Gemma-2's post-attention and post-MLP norms): for every
// row, x += scale * weight * delta / sqrt(mean(delta^2) + eps).
void add_rms_normed(float* x, const float* delta, const float* weight, int64_t rows, int64_t n, float eps, float scale,
                    cudaStream_t stream);

// soft_cap.cu: v[i] = cap * tanh(v[i] / cap) for i < n (Gemma-2's final logits).
void soft_cap(float* v, int64_t n, float cap, cudaStream_t stream);

// rope.cu: the fused q/k/v rows of Megatron's linear_qkv ([q of the group's heads..., k, v] per query group)
// for token r of sequence seq[r] at position pos[r]: adds the bias, applies the q/k norms (when given), rotates
// q and k (rotate-half pairs (i, i + d/2), angle pos * inv_freq[i], or angles[r * d / 2 + i] when angles are
// given: Qwen2.5-VL's), writes q as [rows, heads, d] and k and v into the cache, laid out
// [sequence][cache_len][groups][d].
struct QkvShape {
  int heads, groups, head_dim;
  // Attention (ignored by rope_qkv): scores are q . k * scale (0: 1 / sqrt(head_dim)), then
  // softcap * tanh(score / softcap) when softcap > 0 (Gemma-2); a query sees the `window` positions that end at
  // its own (0: every position up to its own).
  float scale = 0.f, softcap = 0.f;
  int window = 0;
  bool causal = true;  // false: an encoder's (BERT's) every position sees every position of its sequence
};
void rope_qkv(const float* qkv, int64_t rows, QkvShape shape, const float* bias, const float* q_norm,
              const float* k_norm, float eps, const float* inv_freq, const int32_t* seq, const int32_t* pos, bf16* q,
              bf16* k_cache, bf16* v_cache, int64_t cache_len, cudaStream_t stream, const float* angles = nullptr);

// attention_prefill.cu: causal attention of whole prompts. Sequence b's tokens are rows
// [offsets[b], offsets[b] + lengths[b]) of q (positions 0, 1, ...); their keys and values are in the cache.
// Tiled over keys with an online softmax; out is [rows, heads * d].
void attention_prefill(const bf16* q, const bf16* k_cache, const bf16* v_cache, const int32_t* offsets,
                       const int32_t* lengths, int batch, int max_length, QkvShape shape, int64_t cache_len, bf16* out,
                       cudaStream_t stream);

// attention_decode.cu: one new token per sequence, straight from the qkv projection's float32 output (row b
// is sequence b, laid out as rope_qkv takes it): adds the bias, applies the q/k norms (when given), rotates q
// and k at positions[b], writes k and v into the cache at that position, and attends over cache positions
// 0..positions[b] (rotating at positions[b] + rotary_offsets[b] when those are given: Qwen2.5-VL's text after an
// image), split along the keys into `splits` chunks computed in parallel and combined by the last
// split to finish. The split count is fixed for a cache length (so a CUDA graph of a decode step stays valid
// as sequences grow). The workspace (attention_decode_workspace_bytes) must be zero before the first call;
// every call leaves it so.
struct DecodeQkv {
  const float* qkv;
  const float* bias;    // may be null
  const float* q_norm;  // may be null
  const float* k_norm;  // may be null
  float eps;
  const float* inv_freq;
  const int32_t* rotary_offsets = nullptr;  // per sequence; may be null
};
int attention_decode_splits(int64_t cache_len);
size_t attention_decode_workspace_bytes(int batch, QkvShape shape, int splits);
void attention_decode(const DecodeQkv& qkv, const int32_t* positions, int batch, QkvShape shape, bf16* k_cache,
                      bf16* v_cache, int64_t cache_len, int splits, void* workspace, bf16* out, cudaStream_t stream);

// mla.cu, multi-latent attention (DeepSeek): out[r] = bf16(weight * x / sqrt(mean(x^2) + eps)) of the first n
// values of each row of `in` (rows `stride` apart): the q and kv latents' norms.
void latent_rms_norm(const float* in, int64_t rows, int64_t stride, int64_t n, const float* weight, float eps, bf16* out,
                     cudaStream_t stream);
// mla.cu: per-head q, k, v rows as the attention kernels take them (every head its own group: [q, k, v] of
// nope + rope values each), from q [rows, heads, nope + rope], the kv down projection's output [rows,
// kv_lora + rope] (its rotary key is shared by every head) and the kv up projection's [rows, heads, nope + v].
// The rotary parts (interleaved pairs) are rotated at positions[r] and multiplied by rotary_scale (yarn's
// attention factor); v is padded with zeros to nope + rope.
struct MlaShape {
  int heads, nope, rope, v, kv_lora;
  float rotary_scale = 1.f;
};
void mla_assemble(const float* q, const float* compressed, const float* kv, int64_t rows, MlaShape shape,
                  const int32_t* positions, const float* inv_freq, float* qkv, cudaStream_t stream);

// The activation of a gated MLP's gate: silu (SwiGLU) or the tanh-approximated GELU (GeGLU, Gemma); of a
// plain MLP (GPT-2): either GELU; CLIP's quick_gelu (x * sigmoid(1.702 x)); none (swiglu as a cast to bf16).
enum class GateActivation { kSilu = 0, kGeluTanh = 1, kGelu = 2, kQuickGelu = 3, kNone = 4 };

// swiglu.cu: out[r][i] = act(gate_up[r][i]) * gate_up[r][ffn + i] (act: silu unless given); not gated, the
// rows are ffn wide and out[r][i] = act(gate_up[r][i]).
void swiglu(const float* gate_up, int64_t rows, int64_t ffn, bf16* out, cudaStream_t stream,
            GateActivation act = GateActivation::kSilu, bool gated = true);

// bias.cu: y[r][i] += bias[i] for every row of n (the biases of GPT-2's linear layers), then, with `activate`,
// y[r][i] = act(y[r][i]) (BERT's masked-LM head).
void add_bias(float* y, int64_t rows, int64_t n, const float* bias, cudaStream_t stream, bool activate = false,
              GateActivation act = GateActivation::kGelu);

// moe_routing.cu: per row, softmax over the experts' logits, the k most probable (ties: lower expert first),
// their probabilities renormalised to sum 1 when `renormalize`.
void moe_route(const float* logits, int64_t rows, int experts, int k, bool renormalize, int32_t* top_experts,
               float* top_weights, cudaStream_t stream);
// moe_routing.cu: out[r] += out_scale * sum_j weights[r * k + j] * expert_out[slot_rows[r * k + j]] (the MoE
// layer's output joins the residual stream).
void moe_combine(const float* expert_out, const int32_t* slot_rows, const float* weights, int64_t rows, int k,
                 int64_t hidden, float out_scale, float* out, cudaStream_t stream);

// gemv.cu: y[rows x out] = x[rows x in] . W^T for a row-major bf16 W [out x in], when gemv_applies (at most
// kGemvMaxRows rows, in a multiple of 8, x and W 16-byte aligned): a decode step's linear layers.
constexpr int64_t kGemvMaxRows = 2;
bool gemv_applies(int64_t rows, int64_t in, const void* x, const void* w);
void gemv(const bf16* x, int64_t rows, int64_t in, const bf16* w, int64_t out, float* y, cudaStream_t stream);
// gemv.cu, the same with the residual add folded in: y += y_scale * x . W^T.
void gemv_accumulate(const bf16* x, int64_t rows, int64_t in, const bf16* w, int64_t out, float y_scale, float* y,
                     cudaStream_t stream);
// gemv.cu, the same with the RMSNorm before it folded in: the input rows are
// weight * residual / sqrt(mean(residual^2) + eps) * scale (float32 residual rows, 16-byte aligned).
struct NormedInput {
  const float* residual;
  const float* weight;
  float eps, scale;
};
// When argmax_keys is given, each row's largest output also goes into argmax_keys[row] (argmax_key.cuh; it
// must hold 0 or an earlier key; advance_positions takes the index out and clears it).
void gemv_rms_norm(const NormedInput& x, int64_t rows, int64_t in, const bf16* w, int64_t out, float* y,
                   unsigned long long* argmax_keys, cudaStream_t stream);
// gemv.cu, linear_fc1 and SwiGLU: act[r][i] = bf16(silu(g) * u) of the normalised input's products with rows i
// (gate) and ffn + i (up) of w_gate_up [2 ffn x in] (GeGLU with GateActivation::kGeluTanh).
void gemv_rms_norm_swiglu(const NormedInput& x, int64_t rows, int64_t in, const bf16* w_gate_up, int64_t ffn, bf16* act,
                          cudaStream_t stream, GateActivation gate = GateActivation::kSilu);

// argmax.cu: out[r] = the index of the largest of logits[r * ld .. r * ld + vocab) (the first of equal maxima).
void argmax_rows(const float* logits, int64_t rows, int64_t vocab, int64_t ld, int32_t* out, cudaStream_t stream);

// sampling.cu: out[r] = a token drawn from row r of the logits as the CPU Sampler (src/engine/sampling.h) draws
// it: probabilities at `temperature` (> 0), the top_k most likely (0: all), then the smallest head reaching top_p
// (1: all); rng_states[r] is row r's splitmix64 state (start it at the seed), advanced by one draw per call.
struct SamplingParams {
  double temperature;
  int64_t top_k;
  double top_p;
};
void sample_rows(const float* logits, int64_t rows, int64_t vocab, int64_t ld, const SamplingParams& params,
                 unsigned long long* rng_states, int32_t* out, cudaStream_t stream);

// positions.cu: p[i] += 1 for i < n (a decode step's sequences move one position on); when argmax_keys is
// given, also tokens[i] = the index in argmax_keys[i], which is cleared.
void advance_positions(int32_t* p, int n, unsigned long long* argmax_keys, int32_t* tokens, cudaStream_t stream);

}  // namespace mb::kernels
