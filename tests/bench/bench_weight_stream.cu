// How fast can one persistent kernel stream a decode step's weights while computing matrix-vector products,
// with a grid-wide barrier between the matrices (as a one-kernel decode step needs)? Two ways of reading:
//   registers: every warp loads its 16-byte pieces itself (as kernels/gemv.cu and the persistent experiment
//              on the branch persistent-decode do), 4 pieces in flight per lane;
//   ring:      one producer thread per block copies the block's rows, in 32 KB chunks, into a ring of shared
//              memory slots with cp.async.bulk and mbarriers; eight consumer warps compute from shared memory.
//              The producer is not part of the grid barriers, so it runs ahead into the next matrix.
//   ring_warp_owned: the same ring, each consumer warp on rows (or a span of a long row) of its own and freeing
//              its share of a slot by itself, without the consumers' two barriers per chunk.
// Llama-3.2-1B's 16 layers of linear_qkv, linear_proj, linear_fc1, linear_fc2 (1.94 GB of bf16), against the
// device-to-device copy bandwidth. Each product is checked (W filled with 1/1024, x with 1: every row sums to
// in / 1024).
//
//   nvcc -O3 -arch=sm_90 -std=c++17 tests/bench/bench_weight_stream.cu -o bench_weight_stream && ./bench_weight_stream
//
// GPU machine only (sm_90: cp.async.bulk); not built by CMake.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

#define CHECK(x)                                                                                 \
  do {                                                                                           \
    cudaError_t e = (x);                                                                         \
    if (e != cudaSuccess) {                                                                      \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e)); \
      std::exit(1);                                                                              \
    }                                                                                            \
  } while (0)

constexpr int kLayers = 16, kMatrices = 4 * kLayers;
constexpr int kConsumerWarps = 8;
constexpr int kSlots = 6;
constexpr int kSlotBytes = 32 << 10;
constexpr int kMaxIn = 8192;

struct Matrix {
  const __nv_bfloat16* w;
  int64_t rows, in;
  float* y;
};

struct Params {
  const Matrix* m;
  int count;
  const float* x;  // kMaxIn ones
  unsigned long long* barrier;
};

__device__ __forceinline__ void grid_sync(unsigned long long* counter, unsigned long long target, int bar_threads) {
  if (!counter) return;  // (the variant without barriers, for comparison)
  asm volatile("bar.sync 1, %0;" ::"r"(bar_threads));
  if (threadIdx.x == 0) {
    asm volatile("red.release.gpu.global.add.u64 [%0], 1;" ::"l"(counter) : "memory");
    unsigned long long v;
    do {
      asm volatile("ld.acquire.gpu.global.u64 %0, [%1];" : "=l"(v) : "l"(counter) : "memory");
    } while (v < target);
  }
  asm volatile("bar.sync 1, %0;" ::"r"(bar_threads));
}

__device__ __forceinline__ float dot8(uint4 w, const float* x) {
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&w);
  float s = 0.f;
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const float2 f = __bfloat1622float2(h[j]);
    s += f.x * x[2 * j] + f.y * x[2 * j + 1];
  }
  return s;
}

__device__ __forceinline__ void block_rows(int64_t rows, int64_t& begin, int64_t& count) {
  begin = rows * blockIdx.x / gridDim.x;
  count = rows * (blockIdx.x + 1) / gridDim.x - begin;
}

// ---- registers: each warp takes whole rows, 4 x 16 bytes in flight per lane. kPreload: a warp's first pieces
// of the next matrix are loaded before the grid barrier (weights do not depend on it; only the products do).
template <int kWarps, bool kPreload>
__global__ void __launch_bounds__(kWarps * 32, 1) stream_registers(Params p, unsigned long long base) {
  __shared__ float xs[kMaxIn];
  for (int i = threadIdx.x; i < kMaxIn; i += blockDim.x) xs[i] = p.x[i];
  __syncthreads();
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  uint4 pre[4];
  bool preloaded = false;
  auto load4 = [&](const uint4* row, int64_t c0, int64_t pieces, uint4 (&w)[4]) {
#pragma unroll
    for (int j = 0; j < 4; ++j) w[j] = c0 + 32 * j < pieces ? __ldcs(row + c0 + 32 * j) : make_uint4(0, 0, 0, 0);
  };
  for (int k = 0; k < p.count; ++k) {
    const Matrix m = p.m[k];
    int64_t begin, count;
    block_rows(m.rows, begin, count);
    const int64_t pieces = m.in / 8;
    for (int64_t r = warp; r < count; r += kWarps) {
      const uint4* row = reinterpret_cast<const uint4*>(m.w + (begin + r) * m.in);
      float acc = 0.f;
      for (int64_t c0 = lane; c0 < pieces; c0 += 4 * 32) {
        uint4 w[4];
        if (preloaded) {
#pragma unroll
          for (int j = 0; j < 4; ++j) w[j] = pre[j];
          preloaded = false;
        } else {
          load4(row, c0, pieces, w);
        }
#pragma unroll
        for (int j = 0; j < 4; ++j)
          if (c0 + 32 * j < pieces) acc += dot8(w[j], xs + 8 * (c0 + 32 * j));
      }
      for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
      if (lane == 0) m.y[begin + r] = acc;
    }
    if (kPreload && k + 1 < p.count) {  // this warp's first row of the next matrix, its first pieces
      const Matrix nm = p.m[k + 1];
      int64_t nbegin, ncount;
      block_rows(nm.rows, nbegin, ncount);
      if (warp < ncount) {
        load4(reinterpret_cast<const uint4*>(nm.w + (nbegin + warp) * nm.in), lane, nm.in / 8, pre);
        preloaded = true;
      }
    }
    grid_sync(p.barrier, base + static_cast<unsigned long long>(gridDim.x) * (k + 1), kWarps * 32);
  }
}

// ---- ring: a producer thread (warp kConsumerWarps, lane 0) and kConsumerWarps consumer warps
__device__ __forceinline__ uint32_t smem(const void* p) { return static_cast<uint32_t>(__cvta_generic_to_shared(p)); }

__device__ __forceinline__ void wait_parity(uint32_t bar, uint32_t parity) {
  asm volatile(
      "{\n .reg .pred p;\n WAIT_%=:\n mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n @!p bra WAIT_%=;\n}\n" ::"r"(bar),
      "r"(parity)
      : "memory");
}

// kWarpOwned: each consumer warp takes its own rows (or, for rows longer than a chunk's share, its own span of
// one row, added into y atomically) and signals the slot free by itself: no barrier among the consumers per chunk,
// so the warps drift apart and keep reading while others reduce.
template <bool kWarpOwned>
__global__ void __launch_bounds__((kConsumerWarps + 1) * 32, 1) stream_ring(Params p, unsigned long long base) {
  extern __shared__ __align__(128) unsigned char ring[];  // kSlots x kSlotBytes, then x
  float* xs = reinterpret_cast<float*>(ring + kSlots * kSlotBytes);
  __shared__ __align__(8) unsigned long long full[kSlots], empty[kSlots];
  __shared__ float partial[kConsumerWarps];  // per chunk: each warp's sum over its span
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  if (threadIdx.x == 0)
    for (int s = 0; s < kSlots; ++s) {
      asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" ::"r"(smem(&full[s])));
      asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem(&empty[s])), "r"(kConsumerWarps));
    }
  for (int i = threadIdx.x; i < kMaxIn; i += blockDim.x) xs[i] = p.x[i];
  asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  __syncthreads();

  if (warp == kConsumerWarps) {  // producer
    if (lane != 0) return;
    int n = 0;
    for (int k = 0; k < p.count; ++k) {
      const Matrix m = p.m[k];
      int64_t begin, count;
      block_rows(m.rows, begin, count);
      const int64_t row_bytes = m.in * 2, rows_per_chunk = kSlotBytes / row_bytes;
      for (int64_t r = 0; r < count; r += rows_per_chunk, ++n) {
        const int s = n % kSlots;
        if (n >= kSlots) wait_parity(smem(&empty[s]), ((n / kSlots) - 1) & 1);
        const uint32_t bytes = static_cast<uint32_t>((count - r < rows_per_chunk ? count - r : rows_per_chunk) * row_bytes);
        asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem(&full[s])), "r"(bytes) : "memory");
        asm volatile(
            "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(
                smem(ring + s * kSlotBytes)),
            "l"(m.w + (begin + r) * m.in), "r"(bytes), "r"(smem(&full[s]))
            : "memory");
      }
    }
    return;
  }
  // consumers
  int n = 0;
  const int threads = kConsumerWarps * 32;
  for (int k = 0; k < p.count; ++k) {
    const Matrix m = p.m[k];
    int64_t begin, count;
    block_rows(m.rows, begin, count);
    const int64_t pieces_per_row = m.in / 8, rows_per_chunk = kSlotBytes / (m.in * 2);
    for (int64_t r = 0; r < count; r += rows_per_chunk, ++n) {
      const int s = n % kSlots;
      const int64_t rows = count - r < rows_per_chunk ? count - r : rows_per_chunk;
      wait_parity(smem(&full[s]), (n / kSlots) & 1);
      const uint4* chunk = reinterpret_cast<const uint4*>(ring + s * kSlotBytes);
      // the chunk's rows are shared out to the warps: warps_per_row warps a row, each a contiguous part of it
      const int64_t warps_per_row = rows_per_chunk >= kConsumerWarps ? 1 : kConsumerWarps / rows_per_chunk;
      if constexpr (kWarpOwned) {
        if (warps_per_row == 1) {  // whole rows: warp w takes rows w, w + 8, ...
          constexpr int kMaxRows = 2;  // a warp's rows of a chunk (rows of 2048 or more: at most one)
          float v[kMaxRows] = {};
          int n_rows = 0;
          for (int64_t row = warp; row < rows && n_rows < kMaxRows; row += kConsumerWarps, ++n_rows) {
            const int64_t first = row * pieces_per_row;
            for (int64_t q = lane; q < pieces_per_row; q += 32) v[n_rows] += dot8(chunk[first + q], xs + 8 * q);
          }
          __syncwarp();
          if (lane == 0) asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(smem(&empty[s])) : "memory");
          for (int i = 0; i < n_rows; ++i) {
            float t = v[i];
            for (int o = 16; o > 0; o >>= 1) t += __shfl_xor_sync(0xffffffffu, t, o);
            if (lane == 0) m.y[begin + r + warp + i * kConsumerWarps] = t;
          }
        } else {  // long rows: a span of one row each, summed into y
          const int64_t row = warp / warps_per_row, span = pieces_per_row / warps_per_row;
          float v = 0.f;
          if (row < rows) {
            const int64_t first = row * pieces_per_row + (warp % warps_per_row) * span;
            for (int64_t q = lane; q < span; q += 32) v += dot8(chunk[first + q], xs + 8 * ((warp % warps_per_row) * span + q));
          }
          __syncwarp();
          if (lane == 0) asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(smem(&empty[s])) : "memory");
          for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
          if (lane == 0 && row < rows) atomicAdd(m.y + begin + r + row, v);
        }
        continue;
      }
      const int64_t row = warp / warps_per_row, span = pieces_per_row / warps_per_row;
      float v = 0.f;
      if (row < rows) {
        const int64_t first = row * pieces_per_row + (warp % warps_per_row) * span;
        for (int64_t q = lane; q < span; q += 32) v += dot8(chunk[first + q], xs + 8 * ((warp % warps_per_row) * span + q));
      }
      for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
      if (lane == 0) partial[warp] = v;
      __syncwarp();
      if (lane == 0) asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(smem(&empty[s])) : "memory");
      asm volatile("bar.sync 1, %0;" ::"r"(threads));
      for (int64_t row = threadIdx.x; row < rows; row += threads) {
        float sum = 0.f;
        for (int64_t j = 0; j < warps_per_row; ++j) sum += partial[row * warps_per_row + j];
        m.y[begin + r + row] = sum;
      }
      asm volatile("bar.sync 1, %0;" ::"r"(threads));
    }
    grid_sync(p.barrier, base + static_cast<unsigned long long>(gridDim.x) * (k + 1), threads);
  }
}

__global__ void fill(__nv_bfloat16* w, size_t n, __nv_bfloat16 v) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n; i += static_cast<size_t>(gridDim.x) * blockDim.x)
    w[i] = v;
}

}  // namespace

int main() {
  int sms = 0;
  CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  const int64_t H = 2048, F = 8192, QKV = 3072;
  const int64_t shapes[4][2] = {{QKV, H}, {H, H}, {2 * F, H}, {H, F}};
  size_t elements = 0;
  for (auto& s : shapes) elements += static_cast<size_t>(s[0] * s[1]);
  elements *= kLayers;
  __nv_bfloat16* w;
  CHECK(cudaMalloc(&w, elements * 2));
  fill<<<1024, 256>>>(w, elements, __float2bfloat16(1.f / 1024));
  size_t out_rows = 0;
  for (auto& s : shapes) out_rows += static_cast<size_t>(s[0]);
  out_rows *= kLayers;
  float *x, *y;
  CHECK(cudaMalloc(&x, kMaxIn * sizeof(float)));
  CHECK(cudaMalloc(&y, out_rows * sizeof(float)));
  std::vector<float> ones(kMaxIn, 1.f);
  CHECK(cudaMemcpy(x, ones.data(), kMaxIn * sizeof(float), cudaMemcpyHostToDevice));
  std::vector<Matrix> ms;
  size_t at = 0, y_at = 0;
  for (int l = 0; l < kLayers; ++l)
    for (auto& s : shapes) {
      ms.push_back({w + at, s[0], s[1], y + y_at});
      at += static_cast<size_t>(s[0] * s[1]);
      y_at += static_cast<size_t>(s[0]);
    }
  Matrix* dm;
  CHECK(cudaMalloc(&dm, ms.size() * sizeof(Matrix)));
  CHECK(cudaMemcpy(dm, ms.data(), ms.size() * sizeof(Matrix), cudaMemcpyHostToDevice));
  unsigned long long* barrier;
  CHECK(cudaMalloc(&barrier, 8));
  CHECK(cudaMemset(barrier, 0, 8));
  Params p{dm, kMatrices, x, barrier};
  const size_t ring_smem = kSlots * kSlotBytes + kMaxIn * sizeof(float);
  CHECK(cudaFuncSetAttribute(stream_ring<false>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(ring_smem)));
  CHECK(cudaFuncSetAttribute(stream_ring<true>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(ring_smem)));

  cudaEvent_t e0, e1;
  CHECK(cudaEventCreate(&e0));
  CHECK(cudaEventCreate(&e1));
  unsigned long long launches = 0;
  // variants: "registers8/16/32" (warps a block), "registers32_preload", "ring"; each with and without the
  // grid barriers
  auto run = [&](const std::string& kind, bool barriers) {
    const unsigned long long base = barriers ? launches++ * static_cast<unsigned long long>(sms) * kMatrices : 0;
    Params q = p;
    if (!barriers) q.barrier = nullptr;
    void* args[] = {&q, const_cast<unsigned long long*>(&base)};
    if (kind == "ring")
      CHECK(cudaLaunchCooperativeKernel(reinterpret_cast<void*>(stream_ring<false>), sms, (kConsumerWarps + 1) * 32, args, ring_smem, 0));
    else if (kind == "ring_warp_owned")
      CHECK(cudaLaunchCooperativeKernel(reinterpret_cast<void*>(stream_ring<true>), sms, (kConsumerWarps + 1) * 32, args, ring_smem, 0));
    else if (kind == "registers8")
      CHECK(cudaLaunchCooperativeKernel(reinterpret_cast<void*>(stream_registers<8, false>), sms, 8 * 32, args, 0, 0));
    else if (kind == "registers16")
      CHECK(cudaLaunchCooperativeKernel(reinterpret_cast<void*>(stream_registers<16, false>), sms, 16 * 32, args, 0, 0));
    else if (kind == "registers32")
      CHECK(cudaLaunchCooperativeKernel(reinterpret_cast<void*>(stream_registers<32, false>), sms, 32 * 32, args, 0, 0));
    else
      CHECK(cudaLaunchCooperativeKernel(reinterpret_cast<void*>(stream_registers<32, true>), sms, 32 * 32, args, 0, 0));
  };
  auto time_ms = [&](const std::string& kind, bool barriers) {
    CHECK(cudaMemset(y, 0, out_rows * sizeof(float)));
    run(kind, barriers);
    CHECK(cudaDeviceSynchronize());
    std::vector<float> got(out_rows);
    CHECK(cudaMemcpy(got.data(), y, got.size() * sizeof(float), cudaMemcpyDeviceToHost));
    size_t i = 0;
    for (const Matrix& m : ms)
      for (int64_t r = 0; r < m.rows; ++r, ++i)
        if (std::fabs(got[i] - m.in / 1024.f) > 1e-3f) {
          std::fprintf(stderr, "%s: row %lld of a %lld x %lld product sums to %f\n", kind.c_str(),
                       static_cast<long long>(r), static_cast<long long>(m.rows), static_cast<long long>(m.in), got[i]);
          std::exit(1);
        }
    float best = 1e9f;
    for (int n = 0; n < 10; ++n) {
      CHECK(cudaEventRecord(e0));
      run(kind, barriers);
      CHECK(cudaEventRecord(e1));
      CHECK(cudaEventSynchronize(e1));
      float ms = 0;
      CHECK(cudaEventElapsedTime(&ms, e0, e1));
      best = ms < best ? ms : best;
    }
    return best;
  };
  // the bound: device-to-device copy of the same bytes (read + write counted)
  void* copy;
  CHECK(cudaMalloc(&copy, elements * 2));
  float copy_ms = 1e9f;
  for (int i = 0; i < 5; ++i) {
    CHECK(cudaEventRecord(e0));
    CHECK(cudaMemcpy(copy, w, elements * 2, cudaMemcpyDeviceToDevice));
    CHECK(cudaEventRecord(e1));
    CHECK(cudaEventSynchronize(e1));
    float ms = 0;
    CHECK(cudaEventElapsedTime(&ms, e0, e1));
    copy_ms = ms < copy_ms ? ms : copy_ms;
  }
  const double gb = elements * 2 / 1e9, copy_tbs = 2 * gb / copy_ms;
  std::printf("{\"weights_gb\": %.3f, \"copy_tb_s\": %.3f, \"bound_ms\": %.3f", gb, copy_tbs, gb / copy_tbs);
  for (const char* kind : {"registers8", "registers16", "registers32", "registers32_preload", "ring", "ring_warp_owned"})
    for (bool barriers : {true, false}) {
      const float ms = time_ms(kind, barriers);
      std::printf(", \"%s%s_ms\": %.3f, \"%s%s_of_bound\": %.3f", kind, barriers ? "" : "_no_barriers", ms, kind,
                  barriers ? "" : "_no_barriers", gb / copy_tbs / ms);
    }
  std::printf("}\n");
  return 0;
}
