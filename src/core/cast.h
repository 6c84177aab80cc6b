// Element-wise dtype conversion between any two of our dtypes, with torch's rounding (float_formats.h).
// Float -> integer conversions truncate toward zero and saturate, NaN becoming 0 (torch leaves those
// cases undefined); anything -> bool is "not equal to zero".
#pragma once

#include <cstddef>

#include "core/dtype.h"

namespace mb {

// Converts n elements. src and dst may be unaligned; they must not overlap unless identical with
// equal dtypes. `zero_dim` follows torch for a 0-d tensor, which takes its scalar path: a float32 or
// float64 NaN becomes bfloat16 0x7FC0 there instead of 0xFFFF.
void cast_elements(const void* src, DType src_dtype, void* dst, DType dst_dtype, size_t n, bool zero_dim = false);

}  // namespace mb
