// Sampled choice on the device, the CPU Sampler's rule (src/engine/sampling.cpp) without sorting the vocabulary:
// probabilities exp(l / T - max / T); keep the top_k most likely tokens, then the smallest head of them whose
// probability reaches top_p; draw from what is left with the Sampler's splitmix64 stream. "Most likely first"
// is the sampling order: larger logit first, lower id first among equal logits.
//
// Each cut of that order is found by a radix select over the logits' order-preserving 32-bit keys, one byte a
// pass (4 passes over the row, which stays in L2): a histogram of the weights (counts for top_k, probability
// mass for top_p and the draw) per byte value among the tokens that match the bytes already chosen, and the
// first bin, from the top, where the running total reaches the target. Tokens with equal logits have equal
// weights, so the last step — which of the tied tokens — is arithmetic plus one pass to find the j-th lowest id.
// Totals are double, as the Sampler's are; they are summed in another order, so a draw landing within rounding
// of a boundary (about 1e-16 of the mass) may differ from the CPU's.
#include <climits>

#include "kernels/common.cuh"
#include "kernels/kernels.h"

namespace mb::kernels {
namespace {

constexpr int kThreads = 1024;
constexpr int kBins = 256;

// Unsigned keys in the order of the floats (negative floats flipped whole, positive ones with the sign set).
__device__ __forceinline__ uint32_t order_key(float x) {
  const uint32_t b = __float_as_uint(x);
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}
__device__ __forceinline__ float key_value(uint32_t key) {
  return __uint_as_float((key & 0x80000000u) ? (key & 0x7fffffffu) : ~key);
}

// The Sampler's generator: splitmix64, a uniform double in [0, 1).
__device__ double next_uniform(unsigned long long& state) {
  unsigned long long z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * (1.0 / 9007199254740992.0);
}

// A head of the sampling order: every token when `all`, else the tokens whose key is above `key` and those at
// `key` with an id up to `last_id`.
struct Cut {
  bool all;
  uint32_t key;
  int last_id;
  __device__ bool holds(uint32_t k, int id) const { return all || k > key || (k == key && id <= last_id); }
};

struct Weights {  // a token's weight: 1 when counting, else its probability up to the row's constant
  bool counting;
  double temperature, top;  // top = max logit / temperature
  __device__ double of(float logit) const {
    return counting ? 1.0 : exp(static_cast<double>(logit) / temperature - top);
  }
};

struct Shared {
  double mass[kBins];
  int count[kBins];
  int lowest_id[kBins];
  double scan[kThreads / 32];
  int int_scan[kThreads / 32];
  // what thread 0 / warp 0 decided, for every thread
  int bin;
  double before;
  int tie_rank;
  int found_id;
  double through;
};

__device__ double block_sum(double v, Shared& s) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  __syncthreads();
  if (lane == 0) s.scan[warp] = v;
  __syncthreads();
  v = lane < kThreads / 32 ? s.scan[lane] : 0.0;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ float block_max(float v, Shared& s) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) s.scan[warp] = v;
  __syncthreads();
  v = lane < kThreads / 32 ? static_cast<float>(s.scan[lane]) : -INFINITY;
  return warp_max(v);
}

// The number of values before this thread's, over the block (thread order), for every thread.
__device__ int block_exclusive_sum(int v, Shared& s) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int inclusive = v;
  for (int o = 1; o < 32; o <<= 1) {
    const int y = __shfl_up_sync(0xffffffffu, inclusive, o);
    if (lane >= o) inclusive += y;
  }
  __syncthreads();
  if (lane == 31) s.int_scan[warp] = inclusive;
  __syncthreads();
  if (warp == 0) {
    int total = s.int_scan[lane];
    for (int o = 1; o < 32; o <<= 1) {
      const int y = __shfl_up_sync(0xffffffffu, total, o);
      if (lane >= o) total += y;
    }
    s.int_scan[lane] = total - s.int_scan[lane];  // the warps before
  }
  __syncthreads();
  return s.int_scan[warp] + inclusive - v;
}

struct Selection {
  Cut cut;         // the head of the order ending at the chosen token
  double through;  // the total weight up to and including it
};

// The first token in sampling order, among those within `within`, at which the running total of weights
// reaches `target` (exceeds it when `strict`); the last token within when rounding leaves the total short.
__device__ Selection select_token(const float* x, int vocab, const Cut& within, const Weights& w, double target,
                                  bool strict, Shared& s) {
  auto reaches = [&](double total) { return strict ? total > target : total >= target; };
  uint32_t high = 0, mask = 0;
  double before = 0;  // the weight of the tokens ahead of every key that matches `high`
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int i = threadIdx.x; i < kBins; i += blockDim.x) s.mass[i] = 0, s.count[i] = 0, s.lowest_id[i] = INT_MAX;
    __syncthreads();
    for (int t = threadIdx.x; t < vocab; t += blockDim.x) {
      const uint32_t key = order_key(x[t]);
      if ((key & mask) != high || !within.holds(key, t)) continue;
      const int bin = static_cast<int>((key >> shift) & 0xffu);
      atomicAdd(&s.count[bin], 1);
      if (!w.counting) atomicAdd(&s.mass[bin], w.of(x[t]));
      if (shift == 0) atomicMin(&s.lowest_id[bin], t);
    }
    __syncthreads();
    if (threadIdx.x < 32) {  // warp 0: lane l holds bins 255 - 8l down to 248 - 8l, the order's direction
      const int lane = threadIdx.x;
      auto weight = [&](int bin) { return w.counting ? static_cast<double>(s.count[bin]) : s.mass[bin]; };
      double part = 0;
      for (int j = 0; j < 8; ++j) part += weight(255 - 8 * lane - j);
      double inclusive = part;
      for (int o = 1; o < 32; o <<= 1) {
        const double y = __shfl_up_sync(0xffffffffu, inclusive, o);
        if (lane >= o) inclusive += y;
      }
      const unsigned crossing = __ballot_sync(0xffffffffu, reaches(before + inclusive));
      if (crossing) {
        const int owner = __ffs(crossing) - 1;
        if (lane == owner) {
          double total = before + inclusive - part;
          int chosen = -1;
          for (int j = 0; j < 8 && chosen < 0; ++j) {
            const int bin = 255 - 8 * lane - j;
            if (s.count[bin] > 0 && reaches(total + weight(bin))) chosen = bin;
            else total += weight(bin);
          }
          if (chosen < 0) {  // rounding between the two sums: the owner's last non-empty bin
            total = before + inclusive - part;
            for (int j = 0; j < 8; ++j) {
              const int bin = 255 - 8 * lane - j;
              if (s.count[bin] > 0) chosen = bin, s.before = total;
              total += weight(bin);
            }
          } else {
            s.before = total;
          }
          s.bin = chosen;
        }
      } else if (lane == 0) {  // short of the target: the last non-empty bin
        double total = before;
        int chosen = 0;
        for (int bin = 255; bin >= 0; --bin) {
          if (s.count[bin] > 0) chosen = bin, s.before = total;
          total += weight(bin);
        }
        s.bin = chosen;
      }
    }
    __syncthreads();
    high |= static_cast<uint32_t>(s.bin) << shift;
    mask |= 0xffu << shift;
    before = s.before;
  }
  // `high` is the chosen token's key; its ties share one weight: how many of them, in id order, it takes
  const int bin = s.bin, ties = s.count[bin];
  if (threadIdx.x == 0) {
    const double each = w.of(key_value(high));
    double total = before;
    int rank = 1;
    for (;; ++rank) {
      total += each;
      if (reaches(total) || rank == ties) break;
    }
    s.tie_rank = rank;
    s.through = total;
    s.found_id = s.lowest_id[bin];
  }
  __syncthreads();
  const int rank = s.tie_rank;
  if (rank > 1) {  // the rank-th lowest id among the tied tokens: each thread counts its own stretch of ids
    const int stretch = (vocab + blockDim.x - 1) / blockDim.x;
    const int begin = min(vocab, static_cast<int>(threadIdx.x) * stretch), end = min(vocab, begin + stretch);
    int mine = 0;
    for (int t = begin; t < end; ++t) mine += order_key(x[t]) == high && within.holds(high, t);
    int seen = block_exclusive_sum(mine, s);
    if (seen < rank && rank <= seen + mine) {
      for (int t = begin; t < end; ++t) {
        if (order_key(x[t]) == high && within.holds(high, t) && ++seen == rank) {
          s.found_id = t;
          break;
        }
      }
    }
    __syncthreads();
  }
  Selection out;
  out.cut = Cut{false, high, s.found_id};
  out.through = s.through;
  __syncthreads();  // s is reused by the next selection
  return out;
}

__global__ void sample_kernel(const float* logits, int vocab, int64_t ld, SamplingParams p,
                              unsigned long long* states, int32_t* out) {
  __shared__ Shared s;
  const float* x = logits + blockIdx.x * ld;
  float largest = -INFINITY;
  for (int t = threadIdx.x; t < vocab; t += blockDim.x) largest = fmaxf(largest, x[t]);
  largest = block_max(largest, s);
  const Weights probability{false, p.temperature, static_cast<double>(largest) / p.temperature};

  Cut kept{true, 0, 0};
  if (p.top_k > 0 && p.top_k < vocab) {
    const Weights counting{true, 1.0, 0.0};
    kept = select_token(x, vocab, kept, counting, static_cast<double>(p.top_k), false, s).cut;
  }
  double mass = 0;
  for (int t = threadIdx.x; t < vocab; t += blockDim.x)
    if (kept.holds(order_key(x[t]), t)) mass += probability.of(x[t]);
  mass = block_sum(mass, s);
  if (p.top_p < 1) {
    const Selection head = select_token(x, vocab, kept, probability, p.top_p * mass, false, s);
    kept = head.cut;
    mass = head.through;
  }
  if (threadIdx.x == 0) s.through = next_uniform(states[blockIdx.x]) * mass;
  __syncthreads();
  const double r = s.through;
  __syncthreads();
  const Selection drawn = select_token(x, vocab, kept, probability, r, true, s);
  if (threadIdx.x == 0) out[blockIdx.x] = drawn.cut.last_id;
}

}  // namespace

void sample_rows(const float* logits, int64_t rows, int64_t vocab, int64_t ld, const SamplingParams& params,
                 unsigned long long* rng_states, int32_t* out, cudaStream_t stream) {
  if (rows > 0)
    sample_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(logits, static_cast<int>(vocab), ld, params,
                                                                         rng_states, out);
}

}  // namespace mb::kernels
