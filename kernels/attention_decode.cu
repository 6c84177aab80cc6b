// Attention of one new token per sequence over its cache (decode), in one kernel from the qkv projection's
// output to the attention output. Block (split, head block, sequence) takes kChunk keys for up to 8 query heads
// of one group (which share their keys and values, so a tile is read once for all of them):
//  1. each warp rotates its query head (bias, q norm, rotary embedding: rope_head.cuh);
//  2. the block whose keys include the new position rotates the new key and writes it and the value into the
//     cache first (several head blocks of a group write the same values there);
//  3. online softmax over the block's keys, leaving (max, sum, unnormalised output) per head;
//  4. the last block of a (sequence, head block) to finish, as counted by an atomic counter, combines the
//     splits and writes the output (and puts the counter back to zero for the next step).
// The number of splits depends on the cache length only, so a captured decode step stays valid as sequences grow.
#include "kernels/attention_tile.cuh"
#include "kernels/rope_head.cuh"

namespace mb::kernels {
namespace {

using namespace attention;
constexpr int kChunk = 64;
constexpr int kMaxWarps = 8;

int heads_per_block(int per_group) {
  for (int h = kMaxWarps; h > 1; --h)
    if (per_group % h == 0) return h;
  return 1;
}

struct Workspace {
  float* stats;         // [batch][heads][splits][2]: max, sum
  float* partial;       // [batch][heads][splits][d]
  unsigned* finished;   // [batch][head blocks]: splits done so far
};

Workspace workspace_parts(float* w, int batch, QkvShape s, int splits) {
  const size_t n = static_cast<size_t>(batch) * s.heads * splits;
  return {w, w + n * 2, reinterpret_cast<unsigned*>(w + n * (2 + s.head_dim))};
}

template <int D>
__global__ void __launch_bounds__(kMaxWarps * 32)
    attention_decode_kernel(DecodeQkv in, const int32_t* positions, QkvShape s, bf16* k_cache, bf16* v_cache,
                            int64_t cache_len, int splits, int per_block, Workspace ws, bf16* out) {
  const int split = blockIdx.x, b = blockIdx.z;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int per_group = s.heads / s.groups, head = blockIdx.y * per_block + warp, g = head / per_group;
  const int d = HeadDim<D>::size(s.head_dim);
  // this split's keys, of those the new position sees (a sliding window may leave none)
  const int pos = positions[b];
  const float rotary_pos = static_cast<float>(pos + (in.rotary_offsets ? in.rotary_offsets[b] : 0));
  const int begin = max(split * kChunk, first_visible(s, pos)), end = min(pos + 1, split * kChunk + kChunk);
  const float* row = in.qkv + static_cast<int64_t>(b) * (s.heads + 2 * s.groups) * d;
  const int64_t cache_row = (static_cast<int64_t>(b) * cache_len + pos) * s.groups + g;  // the new position
  __shared__ Tiles tiles;
  __shared__ float qs[kMaxWarps][kMaxHeadDim];
  // the heads as they come from the projection, before the first tile is loaded over them
  static_assert(sizeof(Tiles) >= sizeof(float) * kMaxWarps * kMaxHeadDim, "room for the unrotated heads");
  auto raw = reinterpret_cast<float(*)[kMaxHeadDim]>(&tiles);
  auto load_head = [&](int unit, float* h) {  // unit: index of the head in the group's [q..., k, v] rows
    const int64_t offset = static_cast<int64_t>(g * (per_group + 2) + unit) * d;
    for (int i = lane; i < d; i += 32) h[i] = row[offset + i] + (in.bias ? in.bias[offset + i] : 0.f);
    __syncwarp();
  };
  RowState<D> st;
  if (begin < end) {
    const float scale = score_scale(s, d);
    load_head(head % per_group, raw[warp]);
    float* q = qs[warp];
    rotate_head(raw[warp], d, in.q_norm, in.eps, in.inv_freq, rotary_pos,
                [q, scale](int i, float value) { q[i] = value * scale; });
    if (end == pos + 1) {  // this block's keys end at the new one
      for (int unit = warp; unit < 2; unit += per_block) {
        __syncwarp();
        load_head(per_group + unit, raw[warp]);
        if (unit == 0) {
          bf16* k = k_cache + cache_row * d;
          rotate_head(raw[warp], d, in.k_norm, in.eps, in.inv_freq, rotary_pos,
                      [k](int i, float value) { k[i] = __float2bfloat16(value); });
        } else {
          for (int i = lane; i < d; i += 32) v_cache[cache_row * d + i] = __float2bfloat16(raw[warp][i]);
        }
      }
    }
    __syncwarp();
    const int64_t row0 = (static_cast<int64_t>(b) * cache_len * s.groups + g) * d;
    const int64_t stride = static_cast<int64_t>(s.groups) * d;
    for (int first = begin; first < end; first += kTile) {
      const int count = min(kTile, end - first);
      __syncthreads();  // the new key and value are in the cache; the previous tile is used up
      load_tile(tiles, k_cache, v_cache, row0, stride, first, count, d);
      __syncthreads();
      st.take(tiles, qs[warp], count, 0, count - 1, d, s.softcap);
    }
  }
  const int64_t hs = static_cast<int64_t>(b) * s.heads + head;
  if (splits == 1) {  // one split (short caches): the output directly
    bf16* o = out + hs * d;
#pragma unroll
    for (int c = 0; c < RowState<D>::kPerLane; ++c) {
      const int i = lane + 32 * c;
      if (i < d) o[i] = __float2bfloat16(st.acc[c] / st.l);
    }
    return;
  }
  // an empty split (past this sequence's length) leaves sum 0, which the combination skips
  if (lane == 0) ws.stats[(hs * splits + split) * 2] = st.m, ws.stats[(hs * splits + split) * 2 + 1] = st.l;
#pragma unroll
  for (int c = 0; c < RowState<D>::kPerLane; ++c) {
    const int i = lane + 32 * c;
    if (i < d) ws.partial[(hs * splits + split) * d + i] = st.acc[c];
  }
  __threadfence();  // this split's results are visible before it is counted
  __syncthreads();
  __shared__ bool last;
  unsigned* finished = ws.finished + static_cast<int64_t>(b) * gridDim.y + blockIdx.y;
  if (threadIdx.x == 0) last = atomicAdd(finished, 1u) == static_cast<unsigned>(splits - 1);
  __syncthreads();
  if (!last) return;
  __threadfence();
  const float* stats = ws.stats + hs * splits * 2;
  float m = -INFINITY, l = 0.f;
  for (int k = 0; k < splits; ++k)
    if (__ldcg(stats + 2 * k + 1) > 0.f) m = fmaxf(m, __ldcg(stats + 2 * k));
  for (int k = 0; k < splits; ++k) {
    const float sum = __ldcg(stats + 2 * k + 1);
    if (sum > 0.f) l += expf(__ldcg(stats + 2 * k) - m) * sum;
  }
  for (int i = lane; i < d; i += 32) {
    float acc = 0.f;
    for (int k = 0; k < splits; ++k) {
      const float sum = __ldcg(stats + 2 * k + 1);
      if (sum > 0.f) acc += expf(__ldcg(stats + 2 * k) - m) * __ldcg(ws.partial + (hs * splits + k) * d + i);
    }
    out[hs * d + i] = __float2bfloat16(acc / l);
  }
  if (threadIdx.x == 0) *finished = 0;
}

}  // namespace

int attention_decode_splits(int64_t cache_len) { return static_cast<int>((cache_len + kChunk - 1) / kChunk); }

size_t attention_decode_workspace_bytes(int batch, QkvShape shape, int splits) {
  const size_t floats = static_cast<size_t>(batch) * shape.heads * splits * (2 + shape.head_dim);
  return floats * sizeof(float) + static_cast<size_t>(batch) * shape.heads * sizeof(unsigned);
}

void attention_decode(const DecodeQkv& qkv, const int32_t* positions, int batch, QkvShape shape, bf16* k_cache,
                      bf16* v_cache, int64_t cache_len, int splits, void* workspace, bf16* out, cudaStream_t stream) {
  if (batch <= 0) return;
  const int per_block = heads_per_block(shape.heads / shape.groups);
  const Workspace ws = workspace_parts(static_cast<float*>(workspace), batch, shape, splits);
  const dim3 grid(static_cast<unsigned>(splits), static_cast<unsigned>(shape.heads / per_block), static_cast<unsigned>(batch));
  const unsigned threads = static_cast<unsigned>(per_block * 32);
  auto kernel = shape.head_dim == 64 ? attention_decode_kernel<64>
                : shape.head_dim == 128 ? attention_decode_kernel<128> : attention_decode_kernel<0>;
  kernel<<<grid, threads, 0, stream>>>(qkv, positions, shape, k_cache, v_cache, cache_len, splits, per_block, ws, out);
}

}  // namespace mb::kernels
