// Multi-latent attention (DeepSeek-V2/V3) between its projections and the attention kernels: the latents'
// RMSNorm, and the assembly of per-head q, k, v rows in the layout the attention kernels take, so that MLA
// attends with the same kernels as every other family.
#include "kernels/common.cuh"
#include "kernels/kernels.h"

namespace mb::kernels {
namespace {

__global__ void latent_rms_norm_kernel(const float* in, int64_t stride, int64_t n, const float* weight, float eps,
                                       bf16* out) {
  const float* row = in + blockIdx.x * stride;
  float sum = 0.f;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) sum += row[i] * row[i];
  const float inv = 1.f / sqrtf(block_sum(sum) / static_cast<float>(n) + eps);
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) out[blockIdx.x * n + i] = __float2bfloat16(weight[i] * (row[i] * inv));
}

// Element j of a rotary part of `rope` values (interleaved pairs (2i, 2i + 1), as DeepSeek's checkpoints hold
// them), rotated at `position` and written in rotate-half order (the pair's first value at i, its second at
// i + rope / 2), as the CPU reference does.
__device__ __forceinline__ float rotated(const float* x, int j, int rope, const float* inv_freq, float position,
                                         float scale) {
  const int half = rope / 2, i = j < half ? j : j - half;
  const float a = x[2 * i], b = x[2 * i + 1];
  float sn, cs;
  sincosf(position * inv_freq[i], &sn, &cs);
  sn *= scale, cs *= scale;
  return j < half ? a * cs - b * sn : b * cs + a * sn;
}

__global__ void mla_assemble_kernel(const float* q, const float* compressed, const float* kv, MlaShape s,
                                    const int32_t* positions, const float* inv_freq, float* qkv) {
  const int64_t r = blockIdx.x;
  const int d = s.nope + s.rope, kv_row = s.nope + s.v;
  const float position = static_cast<float>(positions[r]);
  const float* rotary_key = compressed + r * (s.kv_lora + s.rope) + s.kv_lora;  // one for all heads
  for (int e = threadIdx.x; e < s.heads * 3 * d; e += blockDim.x) {
    const int head = e / (3 * d), unit = e / d % 3, j = e % d;  // unit: q, k, v
    const float* head_q = q + (r * s.heads + head) * d;
    const float* head_kv = kv + (r * s.heads + head) * kv_row;
    float value;
    if (unit == 0)
      value = j < s.nope ? head_q[j] : rotated(head_q + s.nope, j - s.nope, s.rope, inv_freq, position, s.rotary_scale);
    else if (unit == 1)
      value = j < s.nope ? head_kv[j] : rotated(rotary_key, j - s.nope, s.rope, inv_freq, position, s.rotary_scale);
    else
      value = j < s.v ? head_kv[s.nope + j] : 0.f;  // v padded with zeros to the q/k head size
    qkv[r * s.heads * 3 * d + e] = value;
  }
}

}  // namespace

void latent_rms_norm(const float* in, int64_t rows, int64_t stride, int64_t n, const float* weight, float eps, bf16* out,
                     cudaStream_t stream) {
  if (rows > 0) latent_rms_norm_kernel<<<static_cast<unsigned>(rows), 256, 0, stream>>>(in, stride, n, weight, eps, out);
}

void mla_assemble(const float* q, const float* compressed, const float* kv, int64_t rows, MlaShape shape,
                  const int32_t* positions, const float* inv_freq, float* qkv, cudaStream_t stream) {
  if (rows > 0)
    mla_assemble_kernel<<<static_cast<unsigned>(rows), 256, 0, stream>>>(q, compressed, kv, shape, positions, inv_freq, qkv);
}

}  // namespace mb::kernels
