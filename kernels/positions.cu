// A decode step's last kernel: every sequence moves one position on, on the device, so the captured step
// can be replayed without the host writing positions.
#include "kernels/common.cuh"
#include "kernels/kernels.h"

namespace mb::kernels {
namespace {

__global__ void advance_positions_kernel(int32_t* p, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) p[i] += 1;
}

}  // namespace

void advance_positions(int32_t* p, int n, cudaStream_t stream) {
  if (n > 0) advance_positions_kernel<<<blocks_for(n, 128), 128, 0, stream>>>(p, n);
}

}  // namespace mb::kernels
