#include "core/device_memory.h"

#include "core/error.h"

#ifdef MB_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace mb {

#ifdef MB_WITH_CUDA

namespace {
void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) fail(Status::kCuda, what, ": ", cudaGetErrorString(err));
}
}  // namespace

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error
    return 0;
  }
  return n;
}

bool cuda_available() { return cuda_device_count() > 0; }

void* cuda_allocate(size_t nbytes, int device) {
  check(cudaSetDevice(device), "cudaSetDevice");
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, nbytes ? nbytes : 1);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    fail(Status::kOutOfMemory, "cudaMalloc of ", nbytes, " bytes on cuda:", device, " failed: out of memory");
  }
  check(err, "cudaMalloc");
  return p;
}

void cuda_free(void* p, int device) noexcept {
  if (!p) return;
  cudaSetDevice(device);
  cudaFree(p);
}

void cuda_copy(void* dst, Device dst_device, const void* src, Device src_device, size_t nbytes) {
  if (nbytes == 0) return;
  cudaMemcpyKind kind = dst_device.is_cpu() ? (src_device.is_cpu() ? cudaMemcpyHostToHost : cudaMemcpyDeviceToHost)
                                            : (src_device.is_cpu() ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToDevice);
  if (!dst_device.is_cpu()) check(cudaSetDevice(dst_device.index), "cudaSetDevice");
  else if (!src_device.is_cpu()) check(cudaSetDevice(src_device.index), "cudaSetDevice");
  if (kind == cudaMemcpyDeviceToDevice && dst_device.index != src_device.index)
    check(cudaMemcpyPeer(dst, dst_device.index, src, src_device.index, nbytes), "cudaMemcpyPeer");
  else
    check(cudaMemcpy(dst, src, nbytes, kind), "cudaMemcpy");
}

#else  // CPU-only build

int cuda_device_count() { return 0; }
bool cuda_available() { return false; }
void* cuda_allocate(size_t, int) { fail(Status::kUnsupported, "this mbridge was built without CUDA (MB_CUDA=OFF)"); }
void cuda_free(void*, int) noexcept {}
void cuda_copy(void*, Device, const void*, Device, size_t) {
  fail(Status::kUnsupported, "this mbridge was built without CUDA (MB_CUDA=OFF)");
}

#endif

}  // namespace mb
