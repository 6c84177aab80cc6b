#include "engine/image_processor.h"

#include "core/error.h"
#include "core/paths.h"
#include "engine/qwen_vision_plan.h"
#include "io/image_file.h"

namespace mb::engine {

ImageProcessor::ImageProcessor(const bridge::ModelConfig& config, const std::string& folder) {
  if (config.family != "llava" && config.family != "qwen2_5_vl")
    fail(Status::kUnsupported, config.family, " takes no images (LLaVA and Qwen2.5-VL do)");
  qwen_ = config.family == "qwen2_5_vl";
  if (config.image_token_index < 0 || config.image_token_index >= config.vocab_size)
    fail(Status::kFormat, config.family, ": no image token id in the config");
  placeholder_ = static_cast<int32_t>(config.image_token_index);
  json::Value settings = json::Value::object();
  source_ = "defaults";
  if (const std::string path = folder + "/preprocessor_config.json"; !folder.empty() && is_regular_file(path)) {
    settings = json::parse_file(path);
    source_ = path;
  }
  if (qwen_) {
    qwen_settings_ = vision_preprocessing_from(settings, source_);
  } else {
    clip_ = clip_preprocessing_from(settings, source_, config.image_size);
    if (clip_.center_crop ? (clip_.crop_height != config.image_size || clip_.crop_width != config.image_size)
                          : clip_.shortest_edge != config.image_size)
      fail(Status::kFormat, source_, ": it prepares images of another size than the tower's ", config.image_size);
    llava_tokens_ = config.image_tokens();
  }
}

Image ImageProcessor::load(const std::string& path) const {
  const RgbImage rgb = read_image_file(path);
  if (!qwen_) return preprocess_clip(rgb, clip_);
  VisionPatches patches = preprocess_qwen2_vl(rgb, qwen_settings_);
  Image image;
  image.channels = 3;
  image.grid_t = patches.grid_t;
  image.grid_h = patches.grid_h;
  image.grid_w = patches.grid_w;
  image.pixels = std::move(patches.pixels);
  return image;
}

int64_t ImageProcessor::tokens_of(const Image& image) const {
  return qwen_ ? qwen_image_tokens(image, qwen_settings_.merge_size) : llava_tokens_;
}

std::vector<int32_t> ImageProcessor::expand(const std::vector<int32_t>& ids, const std::vector<Image>& images) const {
  int64_t placeholders = 0, filled = 0;
  for (int32_t id : ids) placeholders += id == placeholder_;
  for (const Image& image : images) filled += tokens_of(image);
  if (placeholders == filled) return ids;
  if (placeholders != static_cast<int64_t>(images.size()))
    fail(Status::kInvalidArgument, "the prompt has ", placeholders, " image tokens (id ", placeholder_, ") for ",
         images.size(), " image(s): give one per image (as the chat template writes them) or ", filled,
         " (each image's tokens)");
  std::vector<int32_t> out;
  out.reserve(ids.size() + static_cast<size_t>(filled - placeholders));
  size_t next = 0;
  for (int32_t id : ids) {
    if (id != placeholder_) {
      out.push_back(id);
      continue;
    }
    out.insert(out.end(), static_cast<size_t>(tokens_of(images[next++])), placeholder_);
  }
  return out;
}

}  // namespace mb::engine
