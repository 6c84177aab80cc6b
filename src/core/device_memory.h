// Device memory through the CUDA runtime. A CPU-only build links the same functions, which report
// that CUDA is not available; nothing here aborts the process: CUDA errors become mb::Error(kCuda).
#pragma once

#include <cstddef>

namespace mb {

enum class DeviceType : int { kCpu = 0, kCuda = 1 };

struct Device {
  DeviceType type = DeviceType::kCpu;
  int index = 0;
  bool is_cpu() const { return type == DeviceType::kCpu; }
  bool operator==(const Device& o) const { return type == o.type && (is_cpu() || index == o.index); }
  bool operator!=(const Device& o) const { return !(*this == o); }
};

bool cuda_available();  // built with CUDA and at least one device is visible
int cuda_device_count();
void* cuda_allocate(size_t nbytes, int device);
void cuda_free(void* p, int device) noexcept;
// Copies between any two of host and device memory (blocking).
void cuda_copy(void* dst, Device dst_device, const void* src, Device src_device, size_t nbytes);

}  // namespace mb
