// An image as a model's processor prepares it, what a prompt's image tokens stand for. LLaVA: one image of
// transformers' pixel_values, resized, rescaled and normalised, channels x height x width floats. Qwen2.5-VL:
// its image_grid_thw (grid_t x grid_h x grid_w patches) and pixel_values, one row of
// channels * temporal_patch * patch * patch values per patch (engine/qwen2_vl_image.h makes them from a file).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bridge/model_config.h"
#include "io/json.h"

namespace mb::engine {

struct Image {
  int64_t channels = 0, height = 0, width = 0;
  std::vector<float> pixels;  // LLaVA: [channels][height][width]; Qwen2.5-VL: [patches][patch values]
  int64_t grid_t = 0, grid_h = 0, grid_w = 0;  // Qwen2.5-VL's patch grid (0 for LLaVA)
};

// LLaVA: throws kInvalidArgument unless `image` has the channels and the square size the tower takes (both
// backends check with this before computing its features).
void check_tower_image(const bridge::ModelConfig& c, const Image& image);

// The image_mean and image_std of a preprocessor_config.json into mean and std (kept where the file has none);
// throws kFormat for a malformed list and kUnsupported for a rescale_factor other than 1/255 (the one every
// processor mbridge follows uses). `source` names the file in errors.
void read_normalisation(const json::Value& config, const std::string& source, float mean[3], float std[3]);

// 8-bit channel values of resized RGB (height x width x 3) rescaled by 1/255 (in double, then float32, as
// transformers' numpy code does) and normalised (float32), channels first: [3][height][width].
std::vector<float> normalised_channels(const uint8_t* rgb, int64_t height, int64_t width, const float mean[3],
                                       const float std[3]);

}  // namespace mb::engine
