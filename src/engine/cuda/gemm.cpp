#include "engine/cuda/gemm.h"

#include "engine/cuda/cuda_check.h"
#include "kernels/kernels.h"

namespace mb::engine::cuda {

void linear(cublasHandle_t handle, const __nv_bfloat16* x, int64_t rows, int64_t in, const __nv_bfloat16* w,
            int64_t out, float* y) {
  if (rows == 0) return;
  if (kernels::gemv_applies(rows, in, x, w)) {  // a decode step: reading W is the whole cost
    cudaStream_t stream = nullptr;
    check(cublasGetStream(handle, &stream), "cublasGetStream");
    kernels::gemv(x, rows, in, w, out, y, stream);
    return;
  }
  // Column-major view: W is [in x out] (ld in), x is [in x rows] (ld in), y is [out x rows] (ld out), so
  // y = W^T x is exactly the row-major y = x W^T.
  const float one = 1.f, zero = 0.f;
  check(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(out), static_cast<int>(rows),
                     static_cast<int>(in), &one, w, CUDA_R_16BF, static_cast<int>(in), x, CUDA_R_16BF,
                     static_cast<int>(in), &zero, y, CUDA_R_32F, static_cast<int>(out), CUBLAS_COMPUTE_32F,
                     CUBLAS_GEMM_DEFAULT),
        "cublasGemmEx");
}

}  // namespace mb::engine::cuda
