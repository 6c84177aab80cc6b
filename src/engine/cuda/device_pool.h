// Device memory of the CUDA backend. Weights live in plain allocations for the model's lifetime; everything a
// run needs (activations, the key/value cache, logits) comes from a stream-ordered pool, so the memory of one
// generate call is reused by the next without going back to the driver, and frees are ordered after the
// kernels that use it.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <utility>

namespace mb::engine::cuda {

// One allocation of the pool, freed (stream-ordered) when it goes out of scope.
class PoolBuffer {
 public:
  PoolBuffer() = default;
  PoolBuffer(void* p, cudaStream_t stream) : p_(p), stream_(stream) {}
  PoolBuffer(PoolBuffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), stream_(o.stream_) {}
  PoolBuffer& operator=(PoolBuffer&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(stream_, o.stream_);
    return *this;
  }
  ~PoolBuffer() {
    if (p_) cudaFreeAsync(p_, stream_);
  }
  template <typename T>
  T* as() const {
    return static_cast<T*>(p_);
  }

 private:
  void* p_ = nullptr;
  cudaStream_t stream_ = nullptr;
};

class DevicePool {
 public:
  DevicePool(int device, cudaStream_t stream);
  ~DevicePool();
  DevicePool(const DevicePool&) = delete;
  DevicePool& operator=(const DevicePool&) = delete;
  // `bytes` of device memory, ready for work queued on the stream after this call; zero bytes gives null.
  PoolBuffer allocate(size_t bytes, const char* what);
  template <typename T>
  PoolBuffer allocate_n(size_t n, const char* what) {
    return allocate(n * sizeof(T), what);
  }

 private:
  cudaMemPool_t pool_ = nullptr;
  cudaStream_t stream_;
};

// A plain device allocation (weights), freed with the model.
class DeviceAllocation {
 public:
  DeviceAllocation() = default;
  DeviceAllocation(size_t bytes, const char* what);
  DeviceAllocation(DeviceAllocation&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  DeviceAllocation& operator=(DeviceAllocation&& o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~DeviceAllocation();
  template <typename T>
  T* as() const {
    return static_cast<T*>(p_);
  }

 private:
  void* p_ = nullptr;
};

}  // namespace mb::engine::cuda
