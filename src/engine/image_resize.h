// Resizing an 8-bit RGB image as Pillow's Image.resize(size, BICUBIC) does, to the bit: a separable
// convolution (horizontal pass, then vertical) with the bicubic kernel (a = -0.5) widened by the scale when
// shrinking (antialiasing), weights in 22-bit fixed point, each pass rounded and clamped back to 8 bits.
// transformers' slow image processors resize through Pillow, so this is what their pixel values start from.
#pragma once

#include <cstdint>

#include "io/image_file.h"

namespace mb::engine {

RgbImage resize_bicubic(const RgbImage& image, int64_t width, int64_t height);

}  // namespace mb::engine
