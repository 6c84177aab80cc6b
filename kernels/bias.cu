// The bias of a linear layer added to its float32 output rows (GPT-2: every linear layer has one).
#include "kernels/common.cuh"
#include "kernels/kernels.h"

namespace mb::kernels {
namespace {

__global__ void add_bias_kernel(float* y, int64_t rows, int64_t n, const float* bias) {
  const int64_t total = rows * n;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x)
    y[e] += bias[e % n];
}

}  // namespace

void add_bias(float* y, int64_t rows, int64_t n, const float* bias, cudaStream_t stream) {
  if (rows <= 0 || n <= 0) return;
  const unsigned blocks = static_cast<unsigned>(std::min<long long>(blocks_for(rows * n, 256), 4096));
  add_bias_kernel<<<blocks, 256, 0, stream>>>(y, rows, n, bias);
}

}  // namespace mb::kernels
