// Mixture-of-experts routing: the router's top-k experts per token, and the weighted sum of the chosen
// experts' outputs back into one row per token (the expert matrix multiplications run between the two).
#include "kernels/common.cuh"
#include "kernels/kernels.h"

namespace mb::kernels {
namespace {

// One thread per token: experts number in the hundreds at most and k is small.
__global__ void moe_route_kernel(const float* logits, int64_t rows, int experts, int k, bool renormalize,
                                 int32_t* top_experts, float* top_weights) {
  const int64_t r = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (r >= rows) return;
  const float* x = logits + r * experts;
  float m = -INFINITY;
  for (int e = 0; e < experts; ++e) m = fmaxf(m, x[e]);
  float sum = 0.f;
  for (int e = 0; e < experts; ++e) sum += expf(x[e] - m);
  float chosen_sum = 0.f;
  int32_t* idx = top_experts + r * k;
  float* w = top_weights + r * k;
  for (int j = 0; j < k; ++j) {
    int best = -1;
    for (int e = 0; e < experts; ++e) {
      bool taken = false;
      for (int t = 0; t < j; ++t) taken |= idx[t] == e;
      if (!taken && (best < 0 || x[e] > x[best])) best = e;  // strict: the lower expert wins a tie
    }
    idx[j] = best;
    w[j] = expf(x[best] - m) / sum;
    chosen_sum += w[j];
  }
  if (renormalize)
    for (int j = 0; j < k; ++j) w[j] /= chosen_sum;
}

__global__ void moe_combine_kernel(const float* expert_out, const int32_t* slot_rows, const float* weights, int k,
                                   int64_t hidden, float out_scale, float* out) {
  const int64_t r = blockIdx.x;
  for (int64_t i = threadIdx.x; i < hidden; i += blockDim.x) {
    float acc = 0.f;
    for (int j = 0; j < k; ++j) acc += weights[r * k + j] * expert_out[static_cast<int64_t>(slot_rows[r * k + j]) * hidden + i];
    out[r * hidden + i] += out_scale * acc;
  }
}

}  // namespace

void moe_route(const float* logits, int64_t rows, int experts, int k, bool renormalize, int32_t* top_experts,
               float* top_weights, cudaStream_t stream) {
  if (rows <= 0) return;
  moe_route_kernel<<<blocks_for(rows, 128), 128, 0, stream>>>(logits, rows, experts, k, renormalize, top_experts, top_weights);
}

void moe_combine(const float* expert_out, const int32_t* slot_rows, const float* weights, int64_t rows, int k,
                 int64_t hidden, float out_scale, float* out, cudaStream_t stream) {
  if (rows <= 0) return;
  moe_combine_kernel<<<static_cast<unsigned>(rows), 256, 0, stream>>>(expert_out, slot_rows, weights, k, hidden, out_scale, out);
}

}  // namespace mb::kernels
