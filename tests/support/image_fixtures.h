// Reading the vision-language fixtures' tensors as the engine takes them: token ids, floats, and images
// (LLaVA's pixel_values; Qwen2.5-VL's pixel_values with their image_grid_thw).
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "engine/image.h"

namespace mbtest {

std::vector<int32_t> ids_of(const mb::Tensor& t);
std::vector<float> floats_of(const mb::Tensor& t);
// LLaVA: pixel_values [1, channels, height, width]
mb::engine::Image llava_image_of(const mb::Tensor& pixel_values);
// Qwen2.5-VL: pixel_values [patches, patch values] and image_grid_thw [1, 3]
mb::engine::Image qwen_image_of(const mb::Tensor& pixel_values, const mb::Tensor& grid_thw);

}  // namespace mbtest
