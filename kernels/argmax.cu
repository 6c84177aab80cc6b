// Greedy choice on the device: the index of each row's largest logit (the first of equal maxima, as
// torch.argmax and the CPU sampler choose), so a greedy decode step copies back one integer per sequence.
#include "kernels/common.cuh"
#include "kernels/kernels.h"

namespace mb::kernels {
namespace {

constexpr int kThreads = 1024;

__global__ void argmax_kernel(const float* logits, int64_t vocab, int64_t ld, int32_t* out) {
  const float* x = logits + blockIdx.x * ld;
  float best = -INFINITY;
  int64_t at = vocab;  // larger than every index: loses every tie
  // Each thread visits its indices in increasing order, so a strict > keeps the first of its equal maxima.
  if (ld % 4 == 0 && reinterpret_cast<uintptr_t>(logits) % 16 == 0) {  // 16-byte loads, several in flight
    const float4* x4 = reinterpret_cast<const float4*>(x);
    const int64_t n4 = vocab / 4;
#pragma unroll 4
    for (int64_t c = threadIdx.x; c < n4; c += blockDim.x) {
      const float4 v = x4[c];
      if (v.x > best) best = v.x, at = 4 * c;
      if (v.y > best) best = v.y, at = 4 * c + 1;
      if (v.z > best) best = v.z, at = 4 * c + 2;
      if (v.w > best) best = v.w, at = 4 * c + 3;
    }
    for (int64_t i = 4 * n4 + threadIdx.x; i < vocab; i += blockDim.x)
      if (x[i] > best) best = x[i], at = i;
  } else {
    for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x)
      if (x[i] > best) best = x[i], at = i;
  }
  for (int o = 16; o > 0; o >>= 1) {
    const float b2 = __shfl_xor_sync(0xffffffffu, best, o);
    const int64_t a2 = __shfl_xor_sync(0xffffffffu, at, o);
    if (b2 > best || (b2 == best && a2 < at)) best = b2, at = a2;
  }
  __shared__ float bests[kThreads / 32];
  __shared__ int64_t ats[kThreads / 32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) bests[warp] = best, ats[warp] = at;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < kThreads / 32; ++w)
      if (bests[w] > best || (bests[w] == best && ats[w] < at)) best = bests[w], at = ats[w];
    out[blockIdx.x] = static_cast<int32_t>(at < vocab ? at : 0);  // all NaN: token 0
  }
}

}  // namespace

void argmax_rows(const float* logits, int64_t rows, int64_t vocab, int64_t ld, int32_t* out, cudaStream_t stream) {
  if (rows > 0) argmax_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(logits, vocab, ld, out);
}

}  // namespace mb::kernels
