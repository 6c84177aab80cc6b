// Greedy choice folded into the kernel that writes the logits: each (logit, index) is packed into one 64-bit
// key whose unsigned order is the order argmax wants (larger logit first, then the lower index), so blocks
// can agree on a row's winner with atomicMax. Key 0 is below every real key (it is the cleared state).
#pragma once

#include <cstdint>

namespace mb::kernels {

__device__ __forceinline__ unsigned long long argmax_key(float value, int64_t index) {
  if (value != value) value = -INFINITY;  // NaN never wins; a row of NaN gives index 0, as argmax_rows does
  const unsigned bits = __float_as_uint(value);
  const unsigned ordered = bits & 0x80000000u ? ~bits : bits | 0x80000000u;  // float order as unsigned order
  return (static_cast<unsigned long long>(ordered) << 32) | (0xffffffffu - static_cast<unsigned>(index));
}

__device__ __forceinline__ int32_t argmax_key_index(unsigned long long key) {
  if (key == 0) return 0;  // nothing offered (an empty row)
  return static_cast<int32_t>(0xffffffffu - static_cast<unsigned>(key & 0xffffffffu));
}

}  // namespace mb::kernels
