// Helpers shared by the libFuzzer targets: reading every byte of a tensor (so the sanitizers see any
// out-of-bounds view) without the compiler optimising the reads away.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/tensor.h"

namespace mbfuzz {

inline void consume(const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint8_t acc = 0;
  for (size_t i = 0; i < n; ++i) acc ^= p[i];
  volatile uint8_t sink = acc;
  (void)sink;
}

// Every element of a (possibly strided) host tensor, read through a contiguous copy.
inline void consume(const mb::Tensor& t) {
  mb::Tensor c = t.contiguous();
  consume(c.data(), c.nbytes());
}

}  // namespace mbfuzz
