// Rotary position embedding of q and k for the prefill pass, with what comes between the qkv projection and
// attention: the bias, the per-head q/k RMSNorm (Qwen3), and the write of k and v into the key/value cache.
// (Decode steps do the same inside their attention kernel, attention_decode.cu.)
// Block (token, unit block): each warp takes one head of the token (a q head, a group's k or a group's v).
#include "kernels/common.cuh"
#include "kernels/kernels.h"
#include "kernels/rope_head.cuh"

namespace mb::kernels {
namespace {

constexpr int kMaxHeadDim = 256, kWarps = 8;

__global__ void rope_qkv_kernel(const float* qkv, QkvShape s, const float* bias, const float* q_norm,
                                const float* k_norm, float eps, const float* inv_freq, const int32_t* seq,
                                const int32_t* pos, bf16* q, bf16* k_cache, bf16* v_cache, int64_t cache_len,
                                const float* angles) {
  const int64_t r = blockIdx.x;
  const int d = s.head_dim, per_group = s.heads / s.groups;
  const int64_t row_width = static_cast<int64_t>(s.heads + 2 * s.groups) * d;
  const float* row = qkv + r * row_width;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __shared__ float scratch[kWarps][kMaxHeadDim];
  float* h = scratch[warp];
  const int64_t cache_row = (static_cast<int64_t>(seq[r]) * cache_len + pos[r]) * s.groups;
  const int unit = blockIdx.y * kWarps + warp;
  if (unit < s.groups * (per_group + 2)) {
    const int g = unit / (per_group + 2), j = unit % (per_group + 2);  // j < per_group: q head; then k, then v
    const int64_t offset = static_cast<int64_t>(unit) * d;
    for (int i = lane; i < d; i += 32) h[i] = row[offset + i] + (bias ? bias[offset + i] : 0.f);
    __syncwarp();
    if (j == per_group + 1) {  // v: into the cache as it is
      for (int i = lane; i < d; i += 32) v_cache[(cache_row + g) * d + i] = __float2bfloat16(h[i]);
      return;
    }
    bf16* dst = j < per_group ? q + (r * s.heads + g * per_group + j) * d : k_cache + (cache_row + g) * d;
    rotate_head(h, d, j < per_group ? q_norm : k_norm, eps, inv_freq, static_cast<float>(pos[r]),
                [dst](int i, float value) { dst[i] = __float2bfloat16(value); }, angles ? angles + r * (d / 2) : nullptr);
  }
}

}  // namespace

void rope_qkv(const float* qkv, int64_t rows, QkvShape shape, const float* bias, const float* q_norm,
              const float* k_norm, float eps, const float* inv_freq, const int32_t* seq, const int32_t* pos, bf16* q,
              bf16* k_cache, bf16* v_cache, int64_t cache_len, cudaStream_t stream, const float* angles) {
  if (rows <= 0) return;
  const dim3 grid(static_cast<unsigned>(rows), blocks_for(shape.groups * (shape.heads / shape.groups + 2), kWarps));
  rope_qkv_kernel<<<grid, kWarps * 32, 0, stream>>>(qkv, shape, bias, q_norm, k_norm, eps, inv_freq, seq, pos, q, k_cache, v_cache, cache_len,
                                                    angles);
}

}  // namespace mb::kernels
