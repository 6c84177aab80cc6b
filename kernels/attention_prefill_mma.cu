// Causal prefill attention on the tensor cores (bf16 mma.sync m16n8k16, float32 accumulation), for head dims
// 64 and 128: a block of four warps takes 64 query rows of one head of one sequence, each warp 16 rows, and
// walks the keys its rows see in tiles of 64 (shared by its warps) with an online softmax. Scores stay in
// registers: the accumulator layout of Q K^T is the operand layout P needs for P V, as in FlashAttention-2. P
// is rounded to bf16 for that product (the tensor cores take bf16), which the CUDA-core kernel does not do.
#include "kernels/attention_prefill_mma.h"
#include "kernels/common.cuh"

namespace mb::kernels {
namespace {

constexpr int kRows = 64;      // query rows a block takes
constexpr int kKeys = 64;      // keys a tile holds
constexpr int kWarps = 4;      // 16 query rows each

__device__ __forceinline__ void mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}

__device__ __forceinline__ uint32_t pack_bits(unsigned short lo, unsigned short hi) {
  return static_cast<uint32_t>(lo) | (static_cast<uint32_t>(hi) << 16);
}

template <int D>
__global__ void __launch_bounds__(kWarps * 32)
    prefill_mma_kernel(const bf16* q, const bf16* k_cache, const bf16* v_cache, const int32_t* offsets,
                       const int32_t* lengths, QkvShape s, int64_t cache_len, bf16* out) {
  constexpr int kLd = D + 8;  // tile row stride in bf16: rows 16 bytes apart from a bank multiple
  __shared__ __align__(16) bf16 ks[kKeys][kLd];
  __shared__ __align__(16) bf16 vs[kKeys][kLd];
  const int b = blockIdx.z, head = blockIdx.y, r0 = blockIdx.x * kRows;
  const int len = lengths[b];
  if (r0 >= len) return;
  const int g = head / (s.heads / s.groups);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int quad = lane >> 2, pair = lane & 3;  // a fragment's row within 8 and column pair within 4
  const int row_a = r0 + warp * 16 + quad, row_b = row_a + 8;  // this thread's two query rows
  const int64_t first_q = static_cast<int64_t>(offsets[b]);

  // Q fragments (A operands of Q K^T), straight from global memory; rows past the prompt read as zeros.
  uint32_t qa[D / 16][4];
  auto q_pair = [&](int row, int col) -> uint32_t {
    if (row >= len) return 0u;
    return *reinterpret_cast<const uint32_t*>(q + ((first_q + row) * s.heads + head) * D + col);
  };
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk) {
    qa[kk][0] = q_pair(row_a, kk * 16 + 2 * pair);
    qa[kk][1] = q_pair(row_b, kk * 16 + 2 * pair);
    qa[kk][2] = q_pair(row_a, kk * 16 + 2 * pair + 8);
    qa[kk][3] = q_pair(row_b, kk * 16 + 2 * pair + 8);
  }

  float o[D / 8][4];
#pragma unroll
  for (int n = 0; n < D / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
  float m_a = -INFINITY, m_b = -INFINITY, l_a = 0.f, l_b = 0.f;  // per thread: its columns' part of the row sums
  constexpr float kLog2e = 1.4426950408889634f;  // exp(x) = exp2(x log2 e)
  const float scale = s.scale > 0.f ? s.scale : rsqrtf(static_cast<float>(D)), scale_log2 = scale * kLog2e;

  // the block's rows see keys start .. last (start > 0 with a sliding window; last: the sequence's when not causal)
  const int last = s.causal ? min(r0 + kRows, len) - 1 : len - 1;
  const int start = s.window > 0 ? max(0, r0 - s.window + 1) : 0;
  const int64_t key_stride = static_cast<int64_t>(s.groups) * D;
  const bf16* k0 = k_cache + (static_cast<int64_t>(b) * cache_len * s.groups + g) * D;
  const bf16* v0 = v_cache + (static_cast<int64_t>(b) * cache_len * s.groups + g) * D;
  for (int first = start; first <= last; first += kKeys) {
    __syncthreads();  // the previous tiles are used up
    for (int e = threadIdx.x; e < kKeys * (D / 8); e += kWarps * 32) {
      const int j = e / (D / 8), i = 8 * (e % (D / 8));
      uint4 kv = make_uint4(0, 0, 0, 0), vv = kv;
      if (first + j <= last) {
        kv = *reinterpret_cast<const uint4*>(k0 + (first + j) * key_stride + i);
        vv = *reinterpret_cast<const uint4*>(v0 + (first + j) * key_stride + i);
      }
      *reinterpret_cast<uint4*>(&ks[j][i]) = kv;
      *reinterpret_cast<uint4*>(&vs[j][i]) = vv;
    }
    __syncthreads();
    // no row of this warp sees these keys (all after its rows, or all before their windows)
    if (r0 + warp * 16 >= len || (s.causal && first > r0 + warp * 16 + 15) ||
        (s.window > 0 && first + kKeys - 1 < r0 + warp * 16 - s.window + 1))
      continue;

    // S = Q K^T for the tile's 64 keys: 8 blocks of 8 keys
    float sc[kKeys / 8][4];
#pragma unroll
    for (int n = 0; n < kKeys / 8; ++n) {
      sc[n][0] = sc[n][1] = sc[n][2] = sc[n][3] = 0.f;
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) {
        const uint32_t b0 = *reinterpret_cast<const uint32_t*>(&ks[n * 8 + quad][kk * 16 + 2 * pair]);
        const uint32_t b1 = *reinterpret_cast<const uint32_t*>(&ks[n * 8 + quad][kk * 16 + 2 * pair + 8]);
        mma_bf16(sc[n], qa[kk], b0, b1);
      }
    }
    // causal mask (keys past a row, past the prompt, or before a row's window are -inf), scale (and soft cap),
    // the rows' new maxima
    float tile_a = -INFINITY, tile_b = -INFINITY;
#pragma unroll
    for (int n = 0; n < kKeys / 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int key = first + n * 8 + 2 * pair + (e & 1), row = e < 2 ? row_a : row_b;
        const bool seen = (key <= row || !s.causal) && key <= last && (s.window <= 0 || key > row - s.window);
        const float v = !seen ? -INFINITY
                        : s.softcap > 0.f ? s.softcap * tanhf(sc[n][e] * scale / s.softcap) * kLog2e
                                          : sc[n][e] * scale_log2;
        sc[n][e] = v;
        if (e < 2) tile_a = fmaxf(tile_a, v); else tile_b = fmaxf(tile_b, v);
      }
    for (int o2 = 1; o2 < 4; o2 <<= 1) {  // the four threads of a quad hold one row
      tile_a = fmaxf(tile_a, __shfl_xor_sync(0xffffffffu, tile_a, o2));
      tile_b = fmaxf(tile_b, __shfl_xor_sync(0xffffffffu, tile_b, o2));
    }
    const float new_a = fmaxf(m_a, tile_a), new_b = fmaxf(m_b, tile_b);
    // a row past the prompt may see no key yet: keep its state at zero rather than exp2(-inf - -inf)
    const float alpha_a = new_a == -INFINITY ? 1.f : exp2f(m_a - new_a);
    const float alpha_b = new_b == -INFINITY ? 1.f : exp2f(m_b - new_b);
    m_a = new_a, m_b = new_b;
    l_a *= alpha_a, l_b *= alpha_b;
#pragma unroll
    for (int n = 0; n < D / 8; ++n) o[n][0] *= alpha_a, o[n][1] *= alpha_a, o[n][2] *= alpha_b, o[n][3] *= alpha_b;
#pragma unroll
    for (int n = 0; n < kKeys / 8; ++n) {
      sc[n][0] = new_a == -INFINITY ? 0.f : exp2f(sc[n][0] - new_a);
      sc[n][1] = new_a == -INFINITY ? 0.f : exp2f(sc[n][1] - new_a);
      sc[n][2] = new_b == -INFINITY ? 0.f : exp2f(sc[n][2] - new_b);
      sc[n][3] = new_b == -INFINITY ? 0.f : exp2f(sc[n][3] - new_b);
      l_a += sc[n][0] + sc[n][1];
      l_b += sc[n][2] + sc[n][3];
    }
    // O += P V: P's accumulators of key blocks 2kk and 2kk + 1 are the A operand of keys 16kk..16kk + 15
#pragma unroll
    for (int kk = 0; kk < kKeys / 16; ++kk) {
      const uint32_t pa[4] = {pack_bf16(sc[2 * kk][0], sc[2 * kk][1]), pack_bf16(sc[2 * kk][2], sc[2 * kk][3]),
                              pack_bf16(sc[2 * kk + 1][0], sc[2 * kk + 1][1]),
                              pack_bf16(sc[2 * kk + 1][2], sc[2 * kk + 1][3])};
      const int key = kk * 16 + 2 * pair;
#pragma unroll
      for (int n = 0; n < D / 8; ++n) {
        const unsigned short* v0s = reinterpret_cast<const unsigned short*>(&vs[0][0]);
        const int col = n * 8 + quad;
        const uint32_t b0 = pack_bits(v0s[key * kLd + col], v0s[(key + 1) * kLd + col]);
        const uint32_t b1 = pack_bits(v0s[(key + 8) * kLd + col], v0s[(key + 9) * kLd + col]);
        mma_bf16(o[n], pa, b0, b1);
      }
    }
  }
  // the rows' sums over the quad, then the output (rows past the prompt are not written)
  for (int o2 = 1; o2 < 4; o2 <<= 1) {
    l_a += __shfl_xor_sync(0xffffffffu, l_a, o2);
    l_b += __shfl_xor_sync(0xffffffffu, l_b, o2);
  }
  const float inv_a = l_a > 0.f ? 1.f / l_a : 0.f, inv_b = l_b > 0.f ? 1.f / l_b : 0.f;
#pragma unroll
  for (int n = 0; n < D / 8; ++n) {
    const int col = n * 8 + 2 * pair;
    if (row_a < len)
      *reinterpret_cast<__nv_bfloat162*>(out + ((first_q + row_a) * s.heads + head) * D + col) =
          __floats2bfloat162_rn(o[n][0] * inv_a, o[n][1] * inv_a);
    if (row_b < len)
      *reinterpret_cast<__nv_bfloat162*>(out + ((first_q + row_b) * s.heads + head) * D + col) =
          __floats2bfloat162_rn(o[n][2] * inv_b, o[n][3] * inv_b);
  }
}

}  // namespace

bool attention_prefill_mma(const bf16* q, const bf16* k_cache, const bf16* v_cache, const int32_t* offsets,
                           const int32_t* lengths, int batch, int max_length, QkvShape shape, int64_t cache_len,
                           bf16* out, cudaStream_t stream) {
  const dim3 grid(blocks_for(max_length, kRows), static_cast<unsigned>(shape.heads), static_cast<unsigned>(batch));
  switch (shape.head_dim) {
    case 64:
      prefill_mma_kernel<64><<<grid, kWarps * 32, 0, stream>>>(q, k_cache, v_cache, offsets, lengths, shape, cache_len, out);
      return true;
    case 128:
      prefill_mma_kernel<128><<<grid, kWarps * 32, 0, stream>>>(q, k_cache, v_cache, offsets, lengths, shape, cache_len, out);
      return true;
    default:
      return false;
  }
}

}  // namespace mb::kernels
