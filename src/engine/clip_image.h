// CLIP image preprocessing, as transformers' CLIPImageProcessor prepares an image for LLaVA's tower: the
// shortest edge resized to `shortest_edge` (the other to int(shortest_edge * long / short)), bicubic with
// antialiasing (engine/image_resize.h); a centre crop to crop_height x crop_width (zero padding where the image
// is smaller; the margin's odd pixel goes to the end); rescaled by 1/255 and normalised with CLIP's mean and std; channels first.
#pragma once

#include <cstdint>
#include <string>

#include "engine/image.h"
#include "engine/image_resize.h"
#include "io/image_file.h"
#include "io/json.h"

namespace mb::engine {

struct ClipPreprocessing {
  int64_t shortest_edge = 224;
  int64_t crop_height = 224, crop_width = 224;
  bool center_crop = true;
  float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};  // OPENAI_CLIP_MEAN
  float std[3] = {0.26862954f, 0.26130258f, 0.27577711f};   // OPENAI_CLIP_STD
  // transformers 5 resizes with torchvision (torch's uint8 kernel); transformers 4's slow processor with Pillow
  ResizeKernel resize = ResizeKernel::kTorch;
};

// The settings of a preprocessor_config.json (size as a number, {"shortest_edge"} or {"height", "width"};
// crop_size as a number or {"height", "width"}; do_resize, do_center_crop, resample, image_mean, image_std);
// `image_size`, the tower's input side, where the file has no size (and no file: ClipPreprocessing defaults to
// it through this with an empty object). `source` names the file in errors.
ClipPreprocessing clip_preprocessing_from(const json::Value& config, const std::string& source, int64_t image_size);

// The pixel_values of one image: channels 3, height crop_height, width crop_width (or the resized size without
// a crop).
Image preprocess_clip(const RgbImage& image, const ClipPreprocessing& p);

}  // namespace mb::engine
