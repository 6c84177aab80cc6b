// Causal self-attention over whole prompts (prefill). Head dims 64 and 128 go to the tensor cores
// (attention_prefill_mma.cu; MB_CUDA_PREFILL_MMA=0 keeps them here, for comparison). Here, on the CUDA cores:
// a block takes kRows consecutive query rows of one head of one sequence, one warp per row, and walks the keys
// its rows see (up to its last row; from its first row's window start) in tiles shared by its warps, with an
// online softmax, so no score matrix is ever stored.
#include <cstdlib>
#include <cstring>

#include "kernels/attention_prefill_mma.h"
#include "kernels/attention_tile.cuh"

namespace mb::kernels {
namespace {

using namespace attention;
constexpr int kRows = 8;

template <int D>
__global__ void __launch_bounds__(kRows * 32) attention_prefill_kernel(const bf16* q, const bf16* k_cache, const bf16* v_cache,
                                         const int32_t* offsets, const int32_t* lengths, QkvShape s, int64_t cache_len,
                                         bf16* out) {
  const int b = blockIdx.z, head = blockIdx.y, r0 = blockIdx.x * kRows;
  const int len = lengths[b];
  if (r0 >= len) return;
  const int d = HeadDim<D>::size(s.head_dim), g = head / (s.heads / s.groups);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, r = r0 + warp;
  const bool active = r < len;
  __shared__ Tiles tiles;
  __shared__ float qs[kRows][kMaxHeadDim];
  const float scale = score_scale(s, d);
  const int64_t q_row = (static_cast<int64_t>(offsets[b]) + r) * s.heads + head;
  for (int i = lane; i < d; i += 32) qs[warp][i] = active ? __bfloat162float(q[q_row * d + i]) * scale : 0.f;
  RowState<D> st;
  // the block's rows see keys first_visible(r0) .. last (every key of the sequence when not causal)
  const int last = s.causal ? min(r0 + kRows, len) - 1 : len - 1, start = first_visible(s, r0);
  const int row_first = first_visible(s, r), row_last = s.causal ? r : len - 1;
  const int64_t row0 = (static_cast<int64_t>(b) * cache_len * s.groups + g) * d, stride = static_cast<int64_t>(s.groups) * d;
  for (int first = start; first <= last; first += kTile) {
    const int count = min(kTile, last + 1 - first);
    __syncthreads();  // the previous tile is no longer read
    load_tile(tiles, k_cache, v_cache, row0, stride, first, count, d);
    __syncthreads();
    if (active) st.take(tiles, qs[warp], count, row_first - first, row_last - first, d, s.softcap);
  }
  if (!active) return;
  bf16* o = out + q_row * d;
#pragma unroll
  for (int c = 0; c < RowState<D>::kPerLane; ++c) {
    const int i = lane + 32 * c;
    if (i < d) o[i] = __float2bfloat16(st.acc[c] / st.l);
  }
}

}  // namespace

void attention_prefill(const bf16* q, const bf16* k_cache, const bf16* v_cache, const int32_t* offsets,
                       const int32_t* lengths, int batch, int max_length, QkvShape shape, int64_t cache_len, bf16* out,
                       cudaStream_t stream) {
  if (batch <= 0 || max_length <= 0) return;
  static const bool tensor_cores = [] {
    const char* v = std::getenv("MB_CUDA_PREFILL_MMA");
    return !(v && std::strcmp(v, "0") == 0);
  }();
  if (tensor_cores && attention_prefill_mma(q, k_cache, v_cache, offsets, lengths, batch, max_length, shape, cache_len,
                                            out, stream))
    return;
  const dim3 grid(blocks_for(max_length, kRows), static_cast<unsigned>(shape.heads), static_cast<unsigned>(batch));
  switch (shape.head_dim) {
    case 64:
      attention_prefill_kernel<64><<<grid, kRows * 32, 0, stream>>>(q, k_cache, v_cache, offsets, lengths, shape, cache_len, out);
      break;
    case 128:
      attention_prefill_kernel<128><<<grid, kRows * 32, 0, stream>>>(q, k_cache, v_cache, offsets, lengths, shape, cache_len, out);
      break;
    default:
      attention_prefill_kernel<0><<<grid, kRows * 32, 0, stream>>>(q, k_cache, v_cache, offsets, lengths, shape, cache_len, out);
  }
}

}  // namespace mb::kernels
