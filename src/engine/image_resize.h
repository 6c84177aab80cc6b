// Resizing an 8-bit RGB image with an antialiased bicubic filter, to the bit as one of two libraries does:
// Pillow's Image.resize(size, BICUBIC), or torch's uint8 kernel behind torchvision's resize(..., BICUBIC,
// antialias=True), which transformers 5's image processors call. Both are a separable convolution (horizontal
// pass, then vertical) with Keys' cubic (a = -0.5) widened by the scale when shrinking, each pass rounded and
// clamped back to 8 bits; they differ in the weights' fixed point: Pillow's has 22 fraction bits, torch's is
// int16 with as many fraction bits as the axis's largest weight allows (about 14), so some pixels differ by 1.
#pragma once

#include <cstdint>

#include "io/image_file.h"

namespace mb::engine {

enum class ResizeKernel { kPillow, kTorch };

RgbImage resize_bicubic(const RgbImage& image, int64_t width, int64_t height, ResizeKernel kernel = ResizeKernel::kPillow);

}  // namespace mb::engine
