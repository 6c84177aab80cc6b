// Token embedding lookup, and the gather of bf16 rows it shares its shape with (last prompt tokens, MoE inputs).
#include "kernels/common.cuh"
#include "kernels/kernels.h"

namespace mb::kernels {
namespace {

__global__ void embedding_kernel(const int32_t* ids, const bf16* table, int64_t hidden, float scale,
                                 const bf16* position_table, const int32_t* pos, const bf16* type_table,
                                 const int32_t* types, int64_t table_first, int64_t table_rows, float* out) {
  const int64_t r = blockIdx.x;
  const int64_t id = static_cast<int64_t>(ids[r]) - table_first;
  const bool held = table_rows < 0 || (id >= 0 && id < table_rows);  // (another rank's row: zeros here)
  const bf16* row = held ? table + id * hidden : nullptr;
  const bf16* position = position_table ? position_table + static_cast<int64_t>(pos[r]) * hidden : nullptr;
  const bf16* type = type_table ? type_table + static_cast<int64_t>(types ? types[r] : 0) * hidden : nullptr;
  for (int64_t i = threadIdx.x; i < hidden; i += blockDim.x)
    out[r * hidden + i] = (row ? __bfloat162float(row[i]) * scale : 0.f) + (position ? __bfloat162float(position[i]) : 0.f) +
                          (type ? __bfloat162float(type[i]) : 0.f);
}

__global__ void gather_rows_kernel(const bf16* src, const int32_t* index, int64_t width, bf16* dst) {
  const int64_t r = blockIdx.x;
  const bf16* row = src + static_cast<int64_t>(index[r]) * width;
  for (int64_t i = threadIdx.x; i < width; i += blockDim.x) dst[r * width + i] = row[i];
}

}  // namespace

void embedding(const int32_t* ids, int64_t rows, const bf16* table, int64_t hidden, float scale, float* out,
               cudaStream_t stream, const bf16* position_table, const int32_t* pos, const bf16* type_table,
               const int32_t* types, int64_t table_first, int64_t table_rows) {
  if (rows > 0)
    embedding_kernel<<<static_cast<unsigned>(rows), 256, 0, stream>>>(ids, table, hidden, scale, position_table, pos,
                                                                      type_table, types, table_first, table_rows, out);
}

void gather_rows(const bf16* src, const int32_t* index, int64_t rows, int64_t width, bf16* dst, cudaStream_t stream) {
  if (rows > 0) gather_rows_kernel<<<static_cast<unsigned>(rows), 256, 0, stream>>>(src, index, width, dst);
}

}  // namespace mb::kernels
