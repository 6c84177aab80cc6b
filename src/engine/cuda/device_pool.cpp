#include "engine/cuda/device_pool.h"

#include <cstdint>

#include "engine/cuda/cuda_check.h"

namespace mb::engine::cuda {

DevicePool::DevicePool(int device, cudaStream_t stream) : stream_(stream) {
  cudaMemPoolProps props{};
  props.allocType = cudaMemAllocationTypePinned;
  props.location.type = cudaMemLocationTypeDevice;
  props.location.id = device;
  check(cudaMemPoolCreate(&pool_, &props), "creating the device memory pool");
  // keep freed memory in the pool (the default gives it back to the driver at every synchronisation)
  uint64_t keep = UINT64_MAX;
  check(cudaMemPoolSetAttribute(pool_, cudaMemPoolAttrReleaseThreshold, &keep), "setting the pool's threshold");
}

DevicePool::~DevicePool() {
  cudaStreamSynchronize(stream_);
  cudaMemPoolDestroy(pool_);
}

PoolBuffer DevicePool::allocate(size_t bytes, const char* what) {
  if (bytes == 0) return {};
  void* p = nullptr;
  const cudaError_t e = cudaMallocFromPoolAsync(&p, bytes, pool_, stream_);
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear it
    fail(Status::kCuda, "allocating ", bytes, " bytes of device memory for ", what, ": ", cudaGetErrorString(e));
  }
  return PoolBuffer(p, stream_);
}

DeviceAllocation::DeviceAllocation(size_t bytes, const char* what) {
  if (bytes == 0) return;
  const cudaError_t e = cudaMalloc(&p_, bytes);
  if (e != cudaSuccess) {
    cudaGetLastError();
    fail(Status::kCuda, "allocating ", bytes, " bytes of device memory for ", what, ": ", cudaGetErrorString(e));
  }
}

DeviceAllocation::~DeviceAllocation() {
  if (p_) cudaFree(p_);
}

}  // namespace mb::engine::cuda
