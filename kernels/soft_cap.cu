// Gemma-2's soft cap of the final logits: cap * tanh(v / cap), which keeps every logit within +-cap.
#include "kernels/common.cuh"
#include "kernels/kernels.h"

namespace mb::kernels {
namespace {

__global__ void soft_cap_kernel(float* v, int64_t n, float cap) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    v[i] = cap * tanhf(v[i] / cap);
}

}  // namespace

void soft_cap(float* v, int64_t n, float cap, cudaStream_t stream) {
  if (n <= 0) return;
  const unsigned blocks = static_cast<unsigned>(std::min<long long>(blocks_for(n, 256), 4096));
  soft_cap_kernel<<<blocks, 256, 0, stream>>>(v, n, cap);
}

}  // namespace mb::kernels
