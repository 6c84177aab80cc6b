// Matrix-vector products for decode steps: y[r] = W x[r] for a handful of rows (one per sequence), where the
// cost is reading W once from memory. Each output element is a row of W read with 16-byte loads by one warp
// (or four, for matrices of few rows), every x row applied to each loaded piece, float32 accumulation.
// (cuBLAS takes the larger row counts.)
#include "kernels/common.cuh"
#include "kernels/kernels.h"

namespace mb::kernels {
namespace {

constexpr int kWarps = 8;

__device__ __forceinline__ void unpack(const uint4& v, float (&f)[8]) {
  const __nv_bfloat162* p = reinterpret_cast<const __nv_bfloat162*>(&v);
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const float2 t = __bfloat1622float2(p[j]);
    f[2 * j] = t.x, f[2 * j + 1] = t.y;
  }
}

// Block of kWarps warps: kWarps / SPLIT output elements, each summed by SPLIT warps over interleaved pieces of
// its row of W (more loads in flight when W has few rows), then added up through shared memory.
template <int R, int SPLIT>
__global__ void __launch_bounds__(kWarps * 32) gemv_kernel(const bf16* __restrict__ x, const bf16* __restrict__ w,
                                                            int64_t in, int64_t out, float* __restrict__ y) {
  constexpr int kPerBlock = kWarps / SPLIT;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, part = warp % SPLIT;
  const int64_t o = static_cast<int64_t>(blockIdx.x) * kPerBlock + warp / SPLIT;
  float acc[R];
#pragma unroll
  for (int r = 0; r < R; ++r) acc[r] = 0.f;
  if (o < out) {
    const uint4* wrow = reinterpret_cast<const uint4*>(w + o * in);
    const int64_t chunks = in / 8;
#pragma unroll 4
    for (int64_t c = part * 32 + lane; c < chunks; c += 32 * SPLIT) {
      float wf[8];
      unpack(__ldcs(wrow + c), wf);  // streamed: W is read once, x stays cached
#pragma unroll
      for (int r = 0; r < R; ++r) {
        float xf[8];
        unpack(*reinterpret_cast<const uint4*>(x + r * in + c * 8), xf);
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[r] += wf[j] * xf[j];
      }
    }
  }
  __shared__ float partial[kWarps][R];
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const float v = warp_sum(acc[r]);
    if (lane == 0) partial[warp][r] = v;
  }
  __syncthreads();
  if (threadIdx.x < kPerBlock * R) {
    const int e = threadIdx.x / R, r = threadIdx.x % R;
    const int64_t oe = static_cast<int64_t>(blockIdx.x) * kPerBlock + e;
    float sum = 0.f;
#pragma unroll
    for (int p = 0; p < SPLIT; ++p) sum += partial[e * SPLIT + p][r];
    if (oe < out) y[r * out + oe] = sum;
  }
}

template <int R>
void launch(const bf16* x, const bf16* w, int64_t in, int64_t out, float* y, cudaStream_t stream) {
  if (out >= 8192)  // enough rows of W to keep every SM busy with one warp each
    gemv_kernel<R, 1><<<blocks_for(out, kWarps), kWarps * 32, 0, stream>>>(x, w, in, out, y);
  else
    gemv_kernel<R, 4><<<blocks_for(out, kWarps / 4), kWarps * 32, 0, stream>>>(x, w, in, out, y);
}

}  // namespace

bool gemv_applies(int64_t rows, int64_t in, const void* x, const void* w) {
  return rows >= 1 && rows <= kGemvMaxRows && in % 8 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 &&
         reinterpret_cast<uintptr_t>(w) % 16 == 0;
}

void gemv(const bf16* x, int64_t rows, int64_t in, const bf16* w, int64_t out, float* y, cudaStream_t stream) {
  switch (rows) {
    case 1: return launch<1>(x, w, in, out, y, stream);
    case 2: return launch<2>(x, w, in, out, y, stream);
    default: return;
  }
}

}  // namespace mb::kernels
