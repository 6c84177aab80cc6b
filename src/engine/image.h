// An image as a model's processor prepares it: one image of transformers' pixel_values, resized, rescaled and
// normalised, channels x height x width floats. What LLaVA's image tokens stand for.
#pragma once

#include <cstdint>
#include <vector>

namespace mb::engine {

struct Image {
  int64_t channels = 0, height = 0, width = 0;
  std::vector<float> pixels;  // [channels][height][width]
};

}  // namespace mb::engine
