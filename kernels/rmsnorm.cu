// RMSNorm (or GPT-2's LayerNorm) fused with the residual add before it, and (Gemma-2) the norm of a branch's
// output fused with its residual add: one block per row, the row's sums in float32.
#include "kernels/common.cuh"
#include "kernels/kernels.h"

namespace mb::kernels {
namespace {

__global__ void add_rms_norm_kernel(float* x, const float* delta, float delta_scale, const float* weight, int64_t n,
                                    float eps, float out_scale, bf16* out, const float* bias, bool write_back) {
  float* row = x + blockIdx.x * n;
  const float* d = delta ? delta + blockIdx.x * n : nullptr;
  float sum = 0.f;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    float v = row[i];
    if (d) row[i] = v = v + d[i] * delta_scale;
    sum += bias ? v : v * v;
  }
  sum = block_sum(sum);
  float mean = 0.f;
  if (bias) {  // LayerNorm: the variance around the mean, from a second pass over the row
    mean = sum / static_cast<float>(n);
    float squares = 0.f;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) squares += (row[i] - mean) * (row[i] - mean);
    sum = block_sum(squares);
  }
  const float inv = 1.f / sqrtf(sum / static_cast<float>(n) + eps);
  bf16* o = out + blockIdx.x * n;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const float v = weight[i] * ((row[i] - mean) * inv) + (bias ? bias[i] : 0.f);
    o[i] = __float2bfloat16(v * out_scale);
    if (write_back) row[i] = v;  // (each thread rewrites only the elements it read)
  }
}

__global__ void add_normed_kernel(float* x, const float* delta, const float* weight, int64_t n, float eps, float scale) {
  float* row = x + blockIdx.x * n;
  const float* d = delta + blockIdx.x * n;
  float sum = 0.f;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) sum += d[i] * d[i];
  sum = block_sum(sum);
  const float inv = 1.f / sqrtf(sum / static_cast<float>(n) + eps);
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) row[i] += scale * (weight[i] * (d[i] * inv));
}

int threads_for(int64_t n) { return n >= 1024 ? 1024 : n >= 256 ? 256 : 32; }

}  // namespace

void add_rms_normed(float* x, const float* delta, const float* weight, int64_t rows, int64_t n, float eps, float scale,
                    cudaStream_t stream) {
  if (rows <= 0) return;
  add_normed_kernel<<<static_cast<unsigned>(rows), threads_for(n), 0, stream>>>(x, delta, weight, n, eps, scale);
}

void add_rms_norm(float* x, const float* delta, float delta_scale, const float* weight, int64_t rows, int64_t n,
                  float eps, float out_scale, bf16* out, cudaStream_t stream, const float* bias, bool write_back) {
  if (rows <= 0) return;
  add_rms_norm_kernel<<<static_cast<unsigned>(rows), threads_for(n), 0, stream>>>(x, delta, delta_scale, weight, n, eps,
                                                                                  out_scale, out, bias, write_back);
}

}  // namespace mb::kernels
