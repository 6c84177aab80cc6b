// How fast can one persistent kernel stream a decode step's weights while computing matrix-vector products,
// with a grid-wide barrier between the matrices (as a one-kernel decode step needs)? Three ways of reading:
//   registers: every warp loads its 16-byte pieces itself (as kernels/gemv.cu and the persistent experiment
//              on the branch persistent-decode do), 4 pieces in flight per lane;
//   staged:    registers, and before each barrier the first pieces of the next matrix copied into shared
//              memory with cp.async, which (unlike loads into registers) stay in flight while the grid waits;
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

// ---- staged: as registers32, but before each grid barrier every lane copies the first kStage pieces of its
// warp's first row of the next matrix into shared memory with cp.async (LDGSTS). Loads into registers made
// before the barrier did not help (registers32_preload): the barrier's release fence waits for them. cp.async
// copies are asynchronous to fences and bar.sync (multi-stage GEMM pipelines keep them in flight across
// __syncthreads), so these keep HBM busy while the grid waits; after it, the row starts from shared memory.
__device__ __forceinline__ void cp_async16(void* dst, const void* src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(static_cast<uint32_t>(__cvta_generic_to_shared(dst))),
               "l"(src)
               : "memory");
}

template <int kWarps, int kStage>
__global__ void __launch_bounds__(kWarps * 32, 1) stream_staged(Params p, unsigned long long base) {
  __shared__ float xs[kMaxIn];
  extern __shared__ uint4 stage[];  // [warp][piece j][lane]: lanes side by side, no bank conflicts
  for (int i = threadIdx.x; i < kMaxIn; i += blockDim.x) xs[i] = p.x[i];
  __syncthreads();
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  uint4* mine = stage + warp * kStage * 32 + lane;
  bool staged = false;
  for (int k = 0; k < p.count; ++k) {
    const Matrix m = p.m[k];
    int64_t begin, count;
    block_rows(m.rows, begin, count);
    const int64_t pieces = m.in / 8;
    if (staged) asm volatile("cp.async.wait_all;" ::: "memory");
    for (int64_t r = warp; r < count; r += kWarps) {
      const uint4* row = reinterpret_cast<const uint4*>(m.w + (begin + r) * m.in);
      float acc = 0.f;
      int64_t c_first = lane;
      if (staged) {  // this warp's first row: its first kStage pieces a lane are in shared memory
#pragma unroll
        for (int j = 0; j < kStage; ++j)
          if (lane + 32 * j < pieces) acc += dot8(mine[32 * j], xs + 8 * (lane + 32 * j));
        c_first = lane + 32 * kStage;
        staged = false;
      }
      for (int64_t c0 = c_first; c0 < pieces; c0 += 4 * 32) {
        uint4 w[4];
#pragma unroll
        for (int j = 0; j < 4; ++j) w[j] = c0 + 32 * j < pieces ? __ldcs(row + c0 + 32 * j) : make_uint4(0, 0, 0, 0);
#pragma unroll
        for (int j = 0; j < 4; ++j)
          if (c0 + 32 * j < pieces) acc += dot8(w[j], xs + 8 * (c0 + 32 * j));
      }
      for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
      if (lane == 0) m.y[begin + r] = acc;
    }
    staged = false;
    if (k + 1 < p.count) {
      const Matrix nm = p.m[k + 1];
      int64_t nbegin, ncount;
      block_rows(nm.rows, nbegin, ncount);
      if (warp < ncount) {
        const uint4* row = reinterpret_cast<const uint4*>(nm.w + (nbegin + warp) * nm.in);
        const int64_t npieces = nm.in / 8;
#pragma unroll
        for (int j = 0; j < kStage; ++j)
          if (lane + 32 * j < npieces) cp_async16(mine + 32 * j, row + lane + 32 * j);
        asm volatile("cp.async.commit_group;" ::: "memory");
        staged = true;
      }
    }
    grid_sync(p.barrier, base + static_cast<unsigned long long>(gridDim.x) * (k + 1), kWarps * 32);
  }
}

// ---- separate kernels: one launch per matrix, captured in a CUDA graph, as the engine's decode step is (blocks
// of 8 warps; 4 warps a row below 8,192 rows, as kernels/gemv.cu). Each kernel may let the next one launch early
// (programmatic dependent launch): its blocks then fetch their first kStage pieces a lane before waiting for the
// previous kernel (griddepcontrol.wait), into registers (kRegs) or into shared memory with cp.async. Only x
// depends on the previous kernel; the weights never do.
template <int kSplit, int kStage, bool kRegs>
__global__ void __launch_bounds__(256) gemv_one(Matrix m, const float* x) {
  constexpr int kBlockWarps = 8, kRowsPerBlock = kBlockWarps / kSplit;
  extern __shared__ uint4 stage[];  // [warp][piece j][lane]
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, part = warp % kSplit;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + warp / kSplit, pieces = m.in / 8;
  const bool live = row < m.rows;
  const uint4* w = reinterpret_cast<const uint4*>(m.w + (live ? row : 0) * m.in);
  const int64_t first = part * 32 + lane, stride = 32 * kSplit;
  uint4 pre[kStage > 0 ? kStage : 1];
  uint4* mine = stage + warp * kStage * 32 + lane;
#pragma unroll
  for (int j = 0; j < kStage; ++j) {
    const int64_t c = first + j * stride;
    if (!live || c >= pieces) continue;
    if constexpr (kRegs)
      pre[j] = __ldcs(w + c);
    else
      cp_async16(mine + 32 * j, w + c);
  }
  if constexpr (kStage > 0 && !kRegs) asm volatile("cp.async.commit_group;" ::: "memory");
  asm volatile("griddepcontrol.wait;" ::: "memory");  // a no-op unless launched early
  if constexpr (kStage > 0 && !kRegs) asm volatile("cp.async.wait_all;" ::: "memory");
  float acc = 0.f;
  if (live) {
#pragma unroll
    for (int j = 0; j < kStage; ++j) {
      const int64_t c = first + j * stride;
      if (c < pieces) acc += dot8(kRegs ? pre[j] : mine[32 * j], x + 8 * c);
    }
#pragma unroll 4
    for (int64_t c = first + kStage * stride; c < pieces; c += stride) acc += dot8(__ldcs(w + c), x + 8 * c);
  }
  for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
  __shared__ float partial[kBlockWarps];
  if (lane == 0) partial[warp] = acc;
  __syncthreads();
  if (threadIdx.x < kRowsPerBlock) {
    const int64_t r = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x;
    float sum = 0.f;
    for (int k = 0; k < kSplit; ++k) sum += partial[threadIdx.x * kSplit + k];
    if (r < m.rows) m.y[r] = sum;
  }
}

template <int kStage, bool kRegs>
void launch_gemv_one(const Matrix& m, const float* x, bool pdl, cudaStream_t stream) {
  cudaLaunchAttribute attr{};
  attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t cfg{};
  cfg.blockDim = dim3(256);
  cfg.dynamicSmemBytes = kRegs ? 0 : 8 * 32 * kStage * 16;
  cfg.stream = stream;
  cfg.attrs = pdl ? &attr : nullptr;
  cfg.numAttrs = pdl ? 1 : 0;
  if (m.rows >= 8192) {
    cfg.gridDim = dim3(static_cast<unsigned>((m.rows + 7) / 8));
    CHECK(cudaLaunchKernelEx(&cfg, gemv_one<1, kStage, kRegs>, m, x));
  } else {
    cfg.gridDim = dim3(static_cast<unsigned>((m.rows + 1) / 2));
    CHECK(cudaLaunchKernelEx(&cfg, gemv_one<4, kStage, kRegs>, m, x));
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
  CHECK(cudaFuncSetAttribute(stream_staged<32, 4>, cudaFuncAttributeMaxDynamicSharedMemorySize, 32 * 32 * 4 * 16));
  CHECK(cudaFuncSetAttribute(stream_staged<32, 8>, cudaFuncAttributeMaxDynamicSharedMemorySize, 32 * 32 * 8 * 16));
  CHECK(cudaFuncSetAttribute(stream_staged<16, 8>, cudaFuncAttributeMaxDynamicSharedMemorySize, 16 * 32 * 8 * 16));

  // the separate-kernel variants, each captured once as a graph of 64 launches
  cudaStream_t capture;
  CHECK(cudaStreamCreateWithFlags(&capture, cudaStreamNonBlocking));
  auto make_graph = [&](auto launch_one, bool pdl) {
    cudaGraph_t g;
    cudaGraphExec_t exec;
    CHECK(cudaStreamBeginCapture(capture, cudaStreamCaptureModeThreadLocal));
    for (const Matrix& m : ms) launch_one(m, x, pdl, capture);
    CHECK(cudaStreamEndCapture(capture, &g));
    CHECK(cudaGraphInstantiate(&exec, g, 0));
    return exec;
  };
  const std::vector<std::pair<std::string, cudaGraphExec_t>> graphs = {
      {"kernels", make_graph(launch_gemv_one<0, false>, false)},
      {"kernels_pdl", make_graph(launch_gemv_one<0, false>, true)},
      {"kernels_pdl_regs4", make_graph(launch_gemv_one<4, true>, true)},
      {"kernels_staged4", make_graph(launch_gemv_one<4, false>, false)},
      {"kernels_pdl_staged4", make_graph(launch_gemv_one<4, false>, true)},
      {"kernels_pdl_staged8", make_graph(launch_gemv_one<8, false>, true)},
  };
  cudaEvent_t e0, e1;
  CHECK(cudaEventCreate(&e0));
  CHECK(cudaEventCreate(&e1));
  unsigned long long launches = 0;
  // variants: "registers8/16/32" (warps a block), "registers32_preload", "stagedWxS" (W warps, S pieces a lane
  // staged across each barrier), "ring", "ring_warp_owned"; each with and without the
  // grid barriers
  auto run = [&](const std::string& kind, bool barriers) {
    const unsigned long long base = barriers ? launches++ * static_cast<unsigned long long>(sms) * kMatrices : 0;
    Params q = p;
    if (!barriers) q.barrier = nullptr;
    void* args[] = {&q, const_cast<unsigned long long*>(&base)};
    for (const auto& [name, exec] : graphs)
      if (kind == name) {
        CHECK(cudaGraphLaunch(exec, 0));
        return;
      }
    if (kind == "ring")
      CHECK(cudaLaunchCooperativeKernel(reinterpret_cast<void*>(stream_ring<false>), sms, (kConsumerWarps + 1) * 32, args, ring_smem, 0));
    else if (kind == "ring_warp_owned")
      CHECK(cudaLaunchCooperativeKernel(reinterpret_cast<void*>(stream_ring<true>), sms, (kConsumerWarps + 1) * 32, args, ring_smem, 0));
    else if (kind == "staged32x4")
      CHECK(cudaLaunchCooperativeKernel(reinterpret_cast<void*>(stream_staged<32, 4>), sms, 32 * 32, args, 32 * 32 * 4 * 16, 0));
    else if (kind == "staged32x8")
      CHECK(cudaLaunchCooperativeKernel(reinterpret_cast<void*>(stream_staged<32, 8>), sms, 32 * 32, args, 32 * 32 * 8 * 16, 0));
    else if (kind == "staged16x8")
      CHECK(cudaLaunchCooperativeKernel(reinterpret_cast<void*>(stream_staged<16, 8>), sms, 16 * 32, args, 16 * 32 * 8 * 16, 0));
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
  for (const char* kind : {"registers8", "registers16", "registers32", "registers32_preload", "staged32x4", "staged32x8", "staged16x8",
                           "ring", "ring_warp_owned"})
    for (bool barriers : {true, false}) {
      const float ms = time_ms(kind, barriers);
      std::printf(", \"%s%s_ms\": %.3f, \"%s%s_of_bound\": %.3f", kind, barriers ? "" : "_no_barriers", ms, kind,
                  barriers ? "" : "_no_barriers", gb / copy_tbs / ms);
    }
  for (const auto& graph : graphs) {
    const float ms = time_ms(graph.first, false);
    std::printf(", \"%s_ms\": %.3f, \"%s_of_bound\": %.3f", graph.first.c_str(), ms, graph.first.c_str(), gb / copy_tbs / ms);
  }
  std::printf("}\n");
  return 0;
}
