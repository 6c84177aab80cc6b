// What a vision-language model's processor does before the model sees a prompt (transformers' LlavaProcessor
// and Qwen2_5_VLProcessor): image files decoded and prepared with the settings of the model folder's
// preprocessor_config.json, and each image's placeholder token in the prompt repeated once per token the image
// fills (LLaVA: one per patch of its tower; Qwen2.5-VL: one per merged patch of its grid).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bridge/model_config.h"
#include "engine/clip_image.h"
#include "engine/image.h"
#include "engine/qwen2_vl_image.h"

namespace mb::engine {

class ImageProcessor {
 public:
  // For `config`'s model (LLaVA or Qwen2.5-VL; kUnsupported for any other): the settings of
  // `folder`/preprocessor_config.json, or the processor's defaults when `folder` is empty or has no such file.
  ImageProcessor(const bridge::ModelConfig& config, const std::string& folder);

  // A PNG or JPEG file, decoded and prepared.
  Image load(const std::string& path) const;
  // How many of the prompt's tokens `image` fills.
  int64_t tokens_of(const Image& image) const;
  int32_t placeholder() const { return placeholder_; }
  // `ids` as the model takes them with `images`: a prompt with one placeholder per image (what chat templates
  // write) gets each one repeated tokens_of(image) times; a prompt already holding that many is kept. Any other
  // number of placeholders is kInvalidArgument.
  std::vector<int32_t> expand(const std::vector<int32_t>& ids, const std::vector<Image>& images) const;
  // Where the settings came from (the file, or "defaults"), for messages.
  const std::string& source() const { return source_; }

 private:
  bool qwen_ = false;
  int32_t placeholder_ = -1;
  int64_t llava_tokens_ = 0;
  ClipPreprocessing clip_;
  VisionPreprocessing qwen_settings_;
  std::string source_;
};

}  // namespace mb::engine
