// SwiGLU: silu(gate) * up (GeGLU: gelu_tanh(gate) * up), from the [gate; up] output of linear_fc1, into bf16
// for linear_fc2; or a plain MLP's activation of linear_fc1's output (GPT-2's GELU).
#include "kernels/common.cuh"
#include "kernels/kernels.h"

namespace mb::kernels {
namespace {

__global__ void swiglu_kernel(const float* gate_up, int64_t rows, int64_t ffn, bf16* out, int activation, bool gated) {
  const int64_t n = rows * ffn, width = gated ? 2 * ffn : ffn;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = e / ffn, i = e % ffn;
    const float g = gate_up[r * width + i], u = gated ? gate_up[r * width + ffn + i] : 1.f;
    out[e] = __float2bfloat16(gate_activation(g, activation) * u);
  }
}

}  // namespace

void swiglu(const float* gate_up, int64_t rows, int64_t ffn, bf16* out, cudaStream_t stream, GateActivation act,
            bool gated) {
  if (rows <= 0) return;
  const long long n = rows * ffn;
  const unsigned blocks = blocks_for(n, 256) < 65535u ? blocks_for(n, 256) : 65535u;
  swiglu_kernel<<<blocks, 256, 0, stream>>>(gate_up, rows, ffn, out, static_cast<int>(act), gated);
}

}  // namespace mb::kernels
