// Byte planes: n elements of `width` bytes rearranged so that byte k of every element comes together
// (plane k holds byte k of element 0, 1, 2, ...; planes in order 0..width-1, little-endian byte order).
// Floating-point weights compress badly as they are, because each element mixes a predictable exponent
// with a noise-like mantissa; split into planes, the exponent bytes form runs zstd compresses well while
// the mantissa bytes stay apart. bf16/f16 give two planes (low byte: low mantissa bits; high byte: sign,
// exponent, top of the mantissa), f32 four. The transform is exactly reversible.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mb {

// The plane count used for an element size: the size itself for 2, 4 and 8 bytes, else 1 (no split).
size_t plane_width_for(size_t element_size);

// src holds `bytes` bytes (a multiple of width); dst gets the planes one after another. width 1 copies.
void split_planes(const uint8_t* src, size_t bytes, size_t width, uint8_t* dst);
// The inverse: planes in src, interleaved elements in dst.
void merge_planes(const uint8_t* src, size_t bytes, size_t width, uint8_t* dst);

}  // namespace mb
