// Qwen2.5-VL's image path, the parts both backends decide on the host: the vision tower's shape (read once
// from the config's vision_config), and for one image the order the tower takes its patches in (window by
// window, in units of merge x merge patches), where its windows and frames start, and each patch's 2-D rotary
// angles; for a prompt, the multimodal rotary positions (transformers' get_rope_index).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "bridge/model_config.h"
#include "engine/image.h"

namespace mb::engine {

// The most patches one image may have in the tower (bounds the plan's allocations).
constexpr int64_t kMaxImagePatches = int64_t{1} << 22;

struct QwenTowerShape {
  int64_t depth = 0, hidden = 0, heads = 0, head_dim = 0, ffn = 0, patch = 14, temporal = 2, merge = 2;
  int64_t window = 112, out = 0, channels = 3;
  std::vector<bool> full_attention;  // per block
  int64_t patch_values() const { return channels * temporal * patch * patch; }
};

// kInvalidArgument without a vision_config, kUnsupported for a tower the backends cannot run.
QwenTowerShape qwen_tower_shape(const bridge::ModelConfig& c);

// The image tokens an image stands for: one per merge x merge patches.
int64_t qwen_image_tokens(const Image& image, int64_t merge);

// Throws kInvalidArgument, naming the prompt as `what` ("the prompt", "prompt 1"), unless the `count` ids hold
// as many image tokens as `images` (may be null: none) stand for.
void check_qwen_image_tokens(const bridge::ModelConfig& c, int64_t merge, const int32_t* ids, size_t count,
                             const std::vector<Image>* images, const std::string& what);

struct QwenTowerPlan {
  int64_t patches = 0, units = 0;   // units: merge x merge patches, one image token each
  std::vector<int64_t> order;       // unit i of the tower's order is unit order[i] of the image's
  std::vector<int64_t> windows;     // patch bounds of the windows in the tower's order (first 0, last patches)
  std::vector<int64_t> frames;      // the same for the frames (full-attention blocks)
  std::vector<float> angles;        // [patch in the tower's order][head_dim / 2]: row angles, then column ones
};

// Throws kInvalidArgument for a grid the tower cannot take or pixels of the wrong count.
QwenTowerPlan qwen_tower_plan(const QwenTowerShape& s, const Image& image);

// Each token's (time, row, column) rotary position, from `start` (the tokens before, whose positions end
// *delta past their indices): text tokens count on, an image's tokens take its grid's rows and columns from
// the next text position and the text after it goes on past the larger side. *delta becomes how far the
// position after the last token is ahead of its index. `images` may be null (text only).
std::vector<std::array<int64_t, 3>> qwen_mrope_positions(const bridge::ModelConfig& c, int64_t merge,
                                                         const std::vector<int32_t>& ids,
                                                         const std::vector<Image>* images, int64_t start,
                                                         int64_t* delta);

}  // namespace mb::engine
