// Matrix-vector products for decode steps: y[r] = W x[r] for a handful of rows (one per sequence), where the
// cost is reading W once from memory. Each output element is a row of W read with 16-byte loads by one warp
// (or four, for matrices of few rows), every x row applied to each loaded piece, float32 accumulation.
// (cuBLAS takes the larger row counts.)
//
// With one token per sequence the kernels around a product are only a few microseconds of latency each, so
// the variants here take their neighbours in:
//  - the input RMSNorm: x is the float32 residual stream, normalised while it is read (the sum of squares
//    comes with the dot product; the 1 / rms factor is applied to the finished sum);
//  - the residual add: y += scale * W x;
//  - SwiGLU: a warp reads the gate row and the up row of linear_fc1 and writes silu(gate) * up;
//  - greedy choice: each block offers its largest logit to a packed (value, index) key per row.
#include "kernels/argmax_key.cuh"
#include "kernels/common.cuh"
#include "kernels/kernels.h"

namespace mb::kernels {
namespace {

constexpr int kWarps = 8;

enum class Output { kStore, kAccumulate, kSwiGLU };

struct Args {
  const bf16* x;           // bf16 input rows, or (normalised input)
  const float* residual;   //   float32 rows
  const float* norm;       //   and the norm's weight
  float eps, in_scale;     //   (the normalised row is scaled by in_scale)
  const bf16* w;
  int64_t in, out;         // out: output elements per row (SwiGLU: W has 2 * out rows, gate then up)
  float* y;                // kStore, kAccumulate
  float y_scale;           // kAccumulate: y += y_scale * W x
  bf16* act;               // kSwiGLU
  int activation;          // kSwiGLU: the gate's activation (GateActivation)
  unsigned long long* best;  // kStore, optional: argmax keys, one per row
};

__device__ __forceinline__ void unpack(const uint4& v, float (&f)[8]) {
  const __nv_bfloat162* p = reinterpret_cast<const __nv_bfloat162*>(&v);
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const float2 t = __bfloat1622float2(p[j]);
    f[2 * j] = t.x, f[2 * j + 1] = t.y;
  }
}

// Elements [8c, 8c + 8) of input row r into xf; normalised input: also their squares into ss.
template <bool kNormed>
__device__ __forceinline__ void load_input(const Args& a, int r, int64_t c, float (&xf)[8], float& ss) {
  if constexpr (kNormed) {
    const float4* res = reinterpret_cast<const float4*>(a.residual + r * a.in + c * 8);
    const float4* nw = reinterpret_cast<const float4*>(a.norm + c * 8);
    const float4 r0 = res[0], r1 = res[1], n0 = nw[0], n1 = nw[1];
    ss += r0.x * r0.x + r0.y * r0.y + r0.z * r0.z + r0.w * r0.w + r1.x * r1.x + r1.y * r1.y + r1.z * r1.z + r1.w * r1.w;
    xf[0] = r0.x * n0.x, xf[1] = r0.y * n0.y, xf[2] = r0.z * n0.z, xf[3] = r0.w * n0.w;
    xf[4] = r1.x * n1.x, xf[5] = r1.y * n1.y, xf[6] = r1.z * n1.z, xf[7] = r1.w * n1.w;
  } else {
    unpack(*reinterpret_cast<const uint4*>(a.x + r * a.in + c * 8), xf);
  }
}

// Block of kWarps warps: kWarps / SPLIT output elements, each summed by SPLIT warps over interleaved pieces of
// its row(s) of W (more loads in flight when W has few rows), then added up through shared memory.
template <int R, int SPLIT, bool kNormed, Output kOut>
__global__ void __launch_bounds__(kWarps * 32) gemv_kernel(Args a) {
  constexpr int kPerBlock = kWarps / SPLIT;
  constexpr int kW = kOut == Output::kSwiGLU ? 2 : 1;  // rows of W per output element
  constexpr int kValues = kW * R + (kNormed ? R : 0);   // per warp: dot products, then sums of squares
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, part = warp % SPLIT;
  const int64_t o = static_cast<int64_t>(blockIdx.x) * kPerBlock + warp / SPLIT;
  float acc[kW][R], ss[R];
#pragma unroll
  for (int r = 0; r < R; ++r) {
    ss[r] = 0.f;
#pragma unroll
    for (int k = 0; k < kW; ++k) acc[k][r] = 0.f;
  }
  if (o < a.out) {
    const uint4* wrow[kW];
#pragma unroll
    for (int k = 0; k < kW; ++k) wrow[k] = reinterpret_cast<const uint4*>(a.w + (o + k * a.out) * a.in);
    const int64_t chunks = a.in / 8;
#pragma unroll 4
    for (int64_t c = part * 32 + lane; c < chunks; c += 32 * SPLIT) {
      float wf[kW][8];
#pragma unroll
      for (int k = 0; k < kW; ++k) unpack(__ldcs(wrow[k] + c), wf[k]);  // streamed: W is read once, x stays cached
#pragma unroll
      for (int r = 0; r < R; ++r) {
        float xf[8];
        load_input<kNormed>(a, r, c, xf, ss[r]);
#pragma unroll
        for (int k = 0; k < kW; ++k)
#pragma unroll
          for (int j = 0; j < 8; ++j) acc[k][r] += wf[k][j] * xf[j];
      }
    }
  }
  __shared__ float partial[kWarps][kValues];
#pragma unroll
  for (int r = 0; r < R; ++r) {
#pragma unroll
    for (int k = 0; k < kW; ++k) {
      const float v = warp_sum(acc[k][r]);
      if (lane == 0) partial[warp][k * R + r] = v;
    }
    if constexpr (kNormed) {
      const float v = warp_sum(ss[r]);
      if (lane == 0) partial[warp][kW * R + r] = v;
    }
  }
  __syncthreads();
  __shared__ unsigned long long keys[kPerBlock][R];
  if (threadIdx.x < kPerBlock * R) {
    const int e = threadIdx.x / R, r = threadIdx.x % R;
    const int64_t oe = static_cast<int64_t>(blockIdx.x) * kPerBlock + e;
    float sum[kW] = {}, squares = 0.f;
#pragma unroll
    for (int p = 0; p < SPLIT; ++p) {
#pragma unroll
      for (int k = 0; k < kW; ++k) sum[k] += partial[e * SPLIT + p][k * R + r];
      if constexpr (kNormed) squares += partial[e * SPLIT + p][kW * R + r];
    }
    float scale = 1.f;
    if constexpr (kNormed) scale = a.in_scale / sqrtf(squares / static_cast<float>(a.in) + a.eps);
    unsigned long long key = 0;  // below every real key
    if (oe < a.out) {
      if constexpr (kOut == Output::kStore) {
        a.y[r * a.out + oe] = sum[0] * scale;
        key = argmax_key(sum[0] * scale, oe);
      } else if constexpr (kOut == Output::kAccumulate) {
        a.y[r * a.out + oe] += a.y_scale * (sum[0] * scale);
      } else {
        const float g = sum[0] * scale, u = sum[1] * scale;
        a.act[r * a.out + oe] = __float2bfloat16(gate_activation(g, a.activation) * u);
      }
    }
    if constexpr (kOut == Output::kStore) keys[e][r] = key;
  }
  if constexpr (kOut == Output::kStore) {
    if (a.best) {
      __syncthreads();
      if (threadIdx.x < R) {  // the block's best of each row, offered only when it beats what is there
        unsigned long long key = 0;
#pragma unroll
        for (int e = 0; e < kPerBlock; ++e) key = key > keys[e][threadIdx.x] ? key : keys[e][threadIdx.x];
        unsigned long long* best = a.best + threadIdx.x;
        if (key > *reinterpret_cast<volatile unsigned long long*>(best)) atomicMax(best, key);
      }
    }
  }
}

template <int R, bool kNormed, Output kOut>
void launch(const Args& a, cudaStream_t stream) {
  if (a.out >= 8192)  // enough rows of W to keep every SM busy with one warp each
    gemv_kernel<R, 1, kNormed, kOut><<<blocks_for(a.out, kWarps), kWarps * 32, 0, stream>>>(a);
  else
    gemv_kernel<R, 4, kNormed, kOut><<<blocks_for(a.out, kWarps / 4), kWarps * 32, 0, stream>>>(a);
}

template <bool kNormed, Output kOut>
void launch_rows(int64_t rows, const Args& a, cudaStream_t stream) {
  switch (rows) {
    case 1: return launch<1, kNormed, kOut>(a, stream);
    case 2: return launch<2, kNormed, kOut>(a, stream);
    default: return;
  }
}

Args normed_args(const NormedInput& x, int64_t in, const bf16* w, int64_t out) {
  Args a{};
  a.residual = x.residual, a.norm = x.weight, a.eps = x.eps, a.in_scale = x.scale;
  a.w = w, a.in = in, a.out = out;
  return a;
}

}  // namespace

bool gemv_applies(int64_t rows, int64_t in, const void* x, const void* w) {
  return rows >= 1 && rows <= kGemvMaxRows && in % 8 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 &&
         reinterpret_cast<uintptr_t>(w) % 16 == 0;
}

void gemv(const bf16* x, int64_t rows, int64_t in, const bf16* w, int64_t out, float* y, cudaStream_t stream) {
  Args a{};
  a.x = x, a.w = w, a.in = in, a.out = out, a.y = y;
  launch_rows<false, Output::kStore>(rows, a, stream);
}

void gemv_accumulate(const bf16* x, int64_t rows, int64_t in, const bf16* w, int64_t out, float y_scale, float* y,
                     cudaStream_t stream) {
  Args a{};
  a.x = x, a.w = w, a.in = in, a.out = out, a.y = y, a.y_scale = y_scale;
  launch_rows<false, Output::kAccumulate>(rows, a, stream);
}

void gemv_rms_norm(const NormedInput& x, int64_t rows, int64_t in, const bf16* w, int64_t out, float* y,
                   unsigned long long* argmax_keys, cudaStream_t stream) {
  Args a = normed_args(x, in, w, out);
  a.y = y, a.best = argmax_keys;
  launch_rows<true, Output::kStore>(rows, a, stream);
}

void gemv_rms_norm_swiglu(const NormedInput& x, int64_t rows, int64_t in, const bf16* w_gate_up, int64_t ffn, bf16* act,
                          cudaStream_t stream, GateActivation gate) {
  Args a = normed_args(x, in, w_gate_up, ffn);
  a.act = act, a.activation = static_cast<int>(gate);
  launch_rows<true, Output::kSwiGLU>(rows, a, stream);
}

}  // namespace mb::kernels
