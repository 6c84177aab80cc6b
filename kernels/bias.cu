// The bias of a linear layer added to its float32 output rows (GPT-2: every linear layer has one), and the
// activation after it where asked (BERT's masked-LM head: dense, GELU).
#include "kernels/common.cuh"
#include "kernels/kernels.h"

namespace mb::kernels {
namespace {

__global__ void add_bias_kernel(float* y, int64_t rows, int64_t n, const float* bias, int activation) {
  const int64_t total = rows * n;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float v = y[e] + bias[e % n];
    y[e] = activation >= 0 ? gate_activation(v, activation) : v;
  }
}

}  // namespace

void add_bias(float* y, int64_t rows, int64_t n, const float* bias, cudaStream_t stream, bool activate,
              GateActivation act) {
  if (rows <= 0 || n <= 0) return;
  const unsigned blocks = static_cast<unsigned>(std::min<long long>(blocks_for(rows * n, 256), 4096));
  add_bias_kernel<<<blocks, 256, 0, stream>>>(y, rows, n, bias, activate ? static_cast<int>(act) : -1);
}

}  // namespace mb::kernels
