// Warp and block reductions shared by the kernels.
#pragma once

#include <cuda_bf16.h>

#include <algorithm>
#include <cfloat>
#include <cmath>

namespace mb::kernels {

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// The sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets it.
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float partial[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // partial may still be read by a previous call
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = lane < warps ? partial[lane] : 0.f;
  return warp_sum(v);
}

// An MLP's activation, a GateActivation as int (kernels.h): silu, GELU with the tanh approximation (as
// transformers' gelu_pytorch_tanh and GPT-2's gelu_new), the exact GELU, quick_gelu, or none.
__device__ __forceinline__ float gate_activation(float g, int activation) {
  if (activation == 3) return g / (1.f + expf(-1.702f * g));  // CLIP's quick_gelu
  if (activation == 4) return g;                              // none (a cast)
  if (activation == 1) return 0.5f * g * (1.f + tanhf(0.7978845608028654f * (g + 0.044715f * g * g * g)));
  if (activation == 2) return 0.5f * g * (1.f + erff(g * 0.7071067811865476f));
  return g / (1.f + expf(-g));
}

inline unsigned blocks_for(long long n, int threads) { return static_cast<unsigned>((n + threads - 1) / threads); }

}  // namespace mb::kernels
