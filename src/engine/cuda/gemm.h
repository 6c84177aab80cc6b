// The linear layers: y[rows x out] = x[rows x in] . W^T for a row-major weight W [out x in] in bf16,
// x in bf16, y in float32, accumulated in float32. A few rows (a decode step) go to our matrix-vector kernel,
// more to cuBLAS.
#pragma once

#include <cublas_v2.h>
#include <cuda_bf16.h>

#include <cstdint>

namespace mb::engine::cuda {

void linear(cublasHandle_t handle, const __nv_bfloat16* x, int64_t rows, int64_t in, const __nv_bfloat16* w,
            int64_t out, float* y);

}  // namespace mb::engine::cuda
