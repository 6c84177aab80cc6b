// Qwen2-VL / Qwen2.5-VL image preprocessing, as transformers' Qwen2VLImageProcessor prepares an image: resized
// to a multiple of patch_size * merge_size on each side with about the same aspect ratio and a pixel count
// within [min_pixels, max_pixels] (smart_resize), bicubic with antialiasing (engine/image_resize.h); rescaled by
// 1/255 and normalised with CLIP's mean and std; repeated over the temporal patch; cut into patches in the order
// the vision tower's patch merger takes them (each merge_size x merge_size block of patches consecutive).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "engine/image_resize.h"
#include "io/image_file.h"
#include "io/json.h"

namespace mb::engine {

struct VisionPreprocessing {
  int64_t patch_size = 14, temporal_patch_size = 2, merge_size = 2;
  int64_t min_pixels = 56 * 56, max_pixels = 28 * 28 * 1280;
  float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};  // OPENAI_CLIP_MEAN
  float std[3] = {0.26862954f, 0.26130258f, 0.27577711f};   // OPENAI_CLIP_STD
  // transformers 5's Qwen2VLImageProcessor resizes with torchvision (torch's uint8 kernel); transformers 4's
  // slow one did with Pillow
  ResizeKernel resize = ResizeKernel::kTorch;
};

struct VisionPatches {
  int64_t grid_t = 0, grid_h = 0, grid_w = 0;  // image_grid_thw
  int64_t patch_dim = 0;                       // channels * temporal_patch_size * patch_size^2
  std::vector<float> pixels;                   // [grid_t * grid_h * grid_w][patch_dim]: pixel_values
  int64_t patches() const { return grid_t * grid_h * grid_w; }
};

// The settings of a preprocessor_config.json (Qwen2VLImageProcessor's fields: min_pixels / max_pixels or
// size.shortest_edge / size.longest_edge, patch_size, temporal_patch_size, merge_size, image_mean, image_std);
// the defaults above where it has none. `source` names the file in errors.
VisionPreprocessing vision_preprocessing_from(const json::Value& config, const std::string& source);

// transformers' smart_resize: (height, width) of the resized image. Throws kInvalidArgument for an aspect
// ratio past 200 (as transformers does).
std::pair<int64_t, int64_t> smart_resize(int64_t height, int64_t width, int64_t factor, int64_t min_pixels,
                                         int64_t max_pixels);

VisionPatches preprocess_qwen2_vl(const RgbImage& image, const VisionPreprocessing& p);

}  // namespace mb::engine
