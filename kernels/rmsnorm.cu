// RMSNorm fused with the residual add before it: one block per row, the row's sum of squares in float32.
#include "kernels/common.cuh"
#include "kernels/kernels.h"

namespace mb::kernels {
namespace {

__global__ void add_rms_norm_kernel(float* x, const float* delta, float delta_scale, const float* weight, int64_t n,
                                    float eps, float out_scale, bf16* out) {
  float* row = x + blockIdx.x * n;
  const float* d = delta ? delta + blockIdx.x * n : nullptr;
  float sum = 0.f;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    float v = row[i];
    if (d) row[i] = v = v + d[i] * delta_scale;
    sum += v * v;
  }
  sum = block_sum(sum);
  const float inv = 1.f / sqrtf(sum / static_cast<float>(n) + eps);
  bf16* o = out + blockIdx.x * n;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) o[i] = __float2bfloat16(weight[i] * (row[i] * inv) * out_scale);
}

}  // namespace

void add_rms_norm(float* x, const float* delta, float delta_scale, const float* weight, int64_t rows, int64_t n,
                  float eps, float out_scale, bf16* out, cudaStream_t stream) {
  if (rows <= 0) return;
  const int threads = n >= 1024 ? 1024 : n >= 256 ? 256 : 32;
  add_rms_norm_kernel<<<static_cast<unsigned>(rows), threads, 0, stream>>>(x, delta, delta_scale, weight, n, eps, out_scale, out);
}

}  // namespace mb::kernels
