// What the prefill and decode attention kernels share: one warp holds one query row's running softmax state
// (running max m, running sum l, unnormalised output acc, dimensions lane, lane + 32, ... per lane) and takes
// in keys 32 at a time from shared memory, where the block has put the tile every warp of it reads.
#pragma once

#include "kernels/common.cuh"
#include "kernels/kernels.h"

namespace mb::kernels::attention {

constexpr int kMaxHeadDim = 256;
constexpr int kTile = 32;                         // keys per tile: one per lane when scoring
constexpr int kLd = kMaxHeadDim + 2;              // smem row stride in bf16: an odd number of words for d = 128

// The kernels are instantiated for the common head dims (D = 64, 128: loops of known length, unrolled) and
// once for any even size up to kMaxHeadDim (D = 0: the size is read at run time).
template <int D>
struct HeadDim {
  static constexpr int kPerLane = D ? (D + 31) / 32 : kMaxHeadDim / 32;  // output dimensions per lane
  __device__ __forceinline__ static int size(int d) { return D ? D : d; }
};

struct Tiles {
  bf16 k[kTile][kLd];
  bf16 v[kTile][kLd];
};

// The block copies keys [first, first + count) of one (sequence, group) into the tiles; count <= kTile.
// Head dims that are a multiple of 8 are read 16 bytes at a time (the cache rows are then 16-byte aligned).
__device__ __forceinline__ void load_tile(Tiles& t, const bf16* k_cache, const bf16* v_cache, int64_t row0,
                                          int64_t row_stride, int first, int count, int d) {
  if (d % 8 == 0) {
    const int pieces = d / 8;
    for (int e = threadIdx.x; e < count * pieces; e += blockDim.x) {
      const int j = e / pieces, i = 8 * (e % pieces);
      const int64_t at = (row0 + static_cast<int64_t>(first + j) * row_stride) + i;
      const uint4 k = *reinterpret_cast<const uint4*>(k_cache + at), v = *reinterpret_cast<const uint4*>(v_cache + at);
      // the tile rows are 4-byte aligned only (their odd stride in words avoids bank conflicts)
      const uint32_t kw[4] = {k.x, k.y, k.z, k.w}, vw[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        *reinterpret_cast<uint32_t*>(&t.k[j][i + 2 * c]) = kw[c];
        *reinterpret_cast<uint32_t*>(&t.v[j][i + 2 * c]) = vw[c];
      }
    }
    return;
  }
  const int pairs = d / 2;
  for (int e = threadIdx.x; e < count * pairs; e += blockDim.x) {
    const int j = e / pairs, i = 2 * (e % pairs);
    const int64_t at = (row0 + static_cast<int64_t>(first + j) * row_stride) + i;
    *reinterpret_cast<__nv_bfloat162*>(&t.k[j][i]) = *reinterpret_cast<const __nv_bfloat162*>(k_cache + at);
    *reinterpret_cast<__nv_bfloat162*>(&t.v[j][i]) = *reinterpret_cast<const __nv_bfloat162*>(v_cache + at);
  }
}

// The factor on q . k (QkvShape::scale, or 1 / sqrt(d)).
__device__ __forceinline__ float score_scale(const QkvShape& s, int d) {
  return s.scale > 0.f ? s.scale : rsqrtf(static_cast<float>(d));
}

// Gemma-2's soft cap of a score (none when cap is 0).
__device__ __forceinline__ float soft_cap(float v, float cap) { return cap > 0.f ? cap * tanhf(v / cap) : v; }

// The first key position a query at `pos` sees.
__device__ __forceinline__ int first_visible(const QkvShape& s, int pos) {
  return s.window > 0 ? max(0, pos - s.window + 1) : 0;
}

template <int D>
struct RowState {
  static constexpr int kPerLane = HeadDim<D>::kPerLane;
  float m = -INFINITY, l = 0.f;
  float acc[kPerLane] = {};

  // Keys 0..count-1 of the tile, of which those with index < first_valid or > last_valid are masked out; q is
  // the query row (float, in shared memory), already multiplied by the score scale; scores are soft-capped
  // when softcap > 0.
  __device__ __forceinline__ void take(const Tiles& t, const float* q, int count, int first_valid, int last_valid,
                                       int d_runtime, float softcap) {
    const int lane = threadIdx.x & 31, d = HeadDim<D>::size(d_runtime);
    float s = -INFINITY;
    if (lane < count && lane >= first_valid && lane <= last_valid) {
      float dot0 = 0.f, dot1 = 0.f;  // two chains of additions, not one
#pragma unroll
      for (int i = 0; i < d; i += 2) {
        const float2 kv = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&t.k[lane][i]));
        dot0 += q[i] * kv.x;
        dot1 += q[i + 1] * kv.y;
      }
      s = soft_cap(dot0 + dot1, softcap);
    }
    const float tile_max = warp_max(s);
    if (tile_max == -INFINITY) return;  // nothing valid in this tile for this row
    const float m_new = fmaxf(m, tile_max);
    const float p = s == -INFINITY ? 0.f : expf(s - m_new);
    const float alpha = expf(m - m_new);  // 0 on the first tile (m = -inf)
    l = l * alpha + warp_sum(p);
    m = m_new;
#pragma unroll
    for (int c = 0; c < kPerLane; ++c) acc[c] *= alpha;
    for (int j = 0; j < count; ++j) {
      const float pj = __shfl_sync(0xffffffffu, p, j);
#pragma unroll
      for (int c = 0; c < kPerLane; ++c) {
        const int i = lane + 32 * c;
        if (i < d) acc[c] += pj * __bfloat162float(t.v[j][i]);
      }
    }
  }
};

}  // namespace mb::kernels::attention
