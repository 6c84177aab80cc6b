// Attention of one new token per sequence over its cache (decode), split along the keys: block (split, head
// block, sequence) takes kChunk keys for up to 8 query heads of one group (which share their keys and values,
// so a tile is read once for all of them) and leaves (max, sum, unnormalised output); a second kernel combines
// the splits. The number of splits depends on the cache length only, so a captured decode step stays valid.
#include "kernels/attention_tile.cuh"

namespace mb::kernels {
namespace {

using namespace attention;
constexpr int kChunk = 256;
constexpr int kMaxWarps = 8;

int heads_per_block(int per_group) {
  for (int h = kMaxWarps; h > 1; --h)
    if (per_group % h == 0) return h;
  return 1;
}

template <int D>
__global__ void attention_split_kernel(const bf16* q, const bf16* k_cache, const bf16* v_cache,
                                       const int32_t* positions, QkvShape s, int64_t cache_len, int splits,
                                       int per_block, float* stats, float* partial, bf16* out) {
  const int split = blockIdx.x, b = blockIdx.z;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int head = blockIdx.y * per_block + warp, d = HeadDim<D>::size(s.head_dim), g = head / (s.heads / s.groups);
  const int len = positions[b] + 1, begin = split * kChunk, end = min(len, begin + kChunk);
  float* st_out = stats + ((static_cast<int64_t>(b) * s.heads + head) * splits + split) * 2;
  if (begin >= end) {  // past this sequence's length: an empty split
    if (lane == 0) st_out[0] = -INFINITY, st_out[1] = 0.f;
    return;
  }
  __shared__ Tiles tiles;
  __shared__ float qs[kMaxWarps][kMaxHeadDim];
  const float scale = rsqrtf(static_cast<float>(d));
  for (int i = lane; i < d; i += 32) qs[warp][i] = __bfloat162float(q[(static_cast<int64_t>(b) * s.heads + head) * d + i]) * scale;
  RowState<D> st;
  const int64_t row0 = (static_cast<int64_t>(b) * cache_len * s.groups + g) * d, stride = static_cast<int64_t>(s.groups) * d;
  for (int first = begin; first < end; first += kTile) {
    const int count = min(kTile, end - first);
    __syncthreads();
    load_tile(tiles, k_cache, v_cache, row0, stride, first, count, d);
    __syncthreads();
    st.take(tiles, qs[warp], count, count - 1, d);
  }
  if (splits == 1) {  // one split (short caches): nothing to combine, the output directly
    bf16* o = out + (static_cast<int64_t>(b) * s.heads + head) * d;
#pragma unroll
    for (int c = 0; c < RowState<D>::kPerLane; ++c) {
      const int i = lane + 32 * c;
      if (i < d) o[i] = __float2bfloat16(st.acc[c] / st.l);
    }
    return;
  }
  if (lane == 0) st_out[0] = st.m, st_out[1] = st.l;
  float* acc_out = partial + ((static_cast<int64_t>(b) * s.heads + head) * splits + split) * d;
#pragma unroll
  for (int c = 0; c < RowState<D>::kPerLane; ++c) {
    const int i = lane + 32 * c;
    if (i < d) acc_out[i] = st.acc[c];
  }
}

__global__ void attention_combine_kernel(const float* stats, const float* partial, QkvShape s, int splits, bf16* out) {
  const int head = blockIdx.x, b = blockIdx.y, d = s.head_dim;
  const int64_t hs = static_cast<int64_t>(b) * s.heads + head;
  const float* st = stats + hs * splits * 2;
  float m = -INFINITY;
  for (int k = 0; k < splits; ++k)
    if (st[2 * k + 1] > 0.f) m = fmaxf(m, st[2 * k]);
  float l = 0.f;
  for (int k = 0; k < splits; ++k)
    if (st[2 * k + 1] > 0.f) l += expf(st[2 * k] - m) * st[2 * k + 1];
  for (int i = threadIdx.x; i < d; i += blockDim.x) {
    float acc = 0.f;
    for (int k = 0; k < splits; ++k)
      if (st[2 * k + 1] > 0.f) acc += expf(st[2 * k] - m) * partial[(hs * splits + k) * d + i];
    out[hs * d + i] = __float2bfloat16(acc / l);
  }
}

}  // namespace

int attention_decode_splits(int64_t cache_len) { return static_cast<int>((cache_len + kChunk - 1) / kChunk); }

size_t attention_decode_workspace_floats(int batch, QkvShape shape, int splits) {
  return static_cast<size_t>(batch) * shape.heads * splits * (2 + shape.head_dim);
}

void attention_decode(const bf16* q, const bf16* k_cache, const bf16* v_cache, const int32_t* positions, int batch,
                      QkvShape shape, int64_t cache_len, int splits, float* workspace, bf16* out, cudaStream_t stream) {
  if (batch <= 0) return;
  const int per_block = heads_per_block(shape.heads / shape.groups);
  float* stats = workspace;
  float* partial = workspace + static_cast<size_t>(batch) * shape.heads * splits * 2;
  const dim3 grid(static_cast<unsigned>(splits), static_cast<unsigned>(shape.heads / per_block), static_cast<unsigned>(batch));
  const unsigned threads = static_cast<unsigned>(per_block * 32);
  switch (shape.head_dim) {
    case 64:
      attention_split_kernel<64><<<grid, threads, 0, stream>>>(q, k_cache, v_cache, positions, shape, cache_len, splits,
                                                             per_block, stats, partial, out);
      break;
    case 128:
      attention_split_kernel<128><<<grid, threads, 0, stream>>>(q, k_cache, v_cache, positions, shape, cache_len, splits,
                                                             per_block, stats, partial, out);
      break;
    default:
      attention_split_kernel<0><<<grid, threads, 0, stream>>>(q, k_cache, v_cache, positions, shape, cache_len, splits,
                                                            per_block, stats, partial, out);
  }
  if (splits > 1)
    attention_combine_kernel<<<dim3(shape.heads, batch), 128, 0, stream>>>(stats, partial, shape, splits, out);
}

}  // namespace mb::kernels
