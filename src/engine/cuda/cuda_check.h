// CUDA and cuBLAS status codes turned into mb::Error(kCuda) naming what was being done.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "core/error.h"

namespace mb::engine::cuda {

inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail(Status::kCuda, what, ": ", cudaGetErrorString(e));
}

inline void check(cublasStatus_t e, const char* what) {
  if (e != CUBLAS_STATUS_SUCCESS) fail(Status::kCuda, what, ": cuBLAS status ", static_cast<int>(e));
}

}  // namespace mb::engine::cuda
