// A decode step's last kernel: every sequence moves one position on, on the device, so the captured step
// can be replayed without the host writing positions; a greedy step whose output layer left packed argmax
// keys (argmax_key.cuh) also takes its next tokens out of them here and clears them for the next step.
#include "kernels/argmax_key.cuh"
#include "kernels/common.cuh"
#include "kernels/kernels.h"

namespace mb::kernels {
namespace {

__global__ void advance_positions_kernel(int32_t* p, int n, unsigned long long* argmax_keys, int32_t* tokens) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  p[i] += 1;
  if (argmax_keys) {
    tokens[i] = argmax_key_index(argmax_keys[i]);
    argmax_keys[i] = 0;
  }
}

}  // namespace

void advance_positions(int32_t* p, int n, unsigned long long* argmax_keys, int32_t* tokens, cudaStream_t stream) {
  if (n > 0) advance_positions_kernel<<<blocks_for(n, 128), 128, 0, stream>>>(p, n, argmax_keys, tokens);
}

}  // namespace mb::kernels
