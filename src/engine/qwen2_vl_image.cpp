#include "engine/qwen2_vl_image.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "engine/image.h"
#include "engine/image_resize.h"

namespace mb::engine {

std::pair<int64_t, int64_t> smart_resize(int64_t height, int64_t width, int64_t factor, int64_t min_pixels,
                                         int64_t max_pixels) {
  if (height <= 0 || width <= 0 || factor <= 0) fail(Status::kInvalidArgument, "an image of ", width, " x ", height);
  if (static_cast<double>(std::max(height, width)) / static_cast<double>(std::min(height, width)) > 200)
    fail(Status::kInvalidArgument, "an image of ", width, " x ", height,
         ": its aspect ratio is past 200 (transformers' smart_resize refuses it too)");
  const double h = static_cast<double>(height), w = static_cast<double>(width), f = static_cast<double>(factor);
  // Python's round(): halves to even, as nearbyint does in the default rounding mode
  int64_t h_bar = static_cast<int64_t>(std::nearbyint(h / f)) * factor;
  int64_t w_bar = static_cast<int64_t>(std::nearbyint(w / f)) * factor;
  if (h_bar * w_bar > max_pixels) {
    const double beta = std::sqrt(h * w / static_cast<double>(max_pixels));
    h_bar = std::max(factor, static_cast<int64_t>(std::floor(h / beta / f)) * factor);
    w_bar = std::max(factor, static_cast<int64_t>(std::floor(w / beta / f)) * factor);
  } else if (h_bar * w_bar < min_pixels) {
    const double beta = std::sqrt(static_cast<double>(min_pixels) / (h * w));
    h_bar = static_cast<int64_t>(std::ceil(h * beta / f)) * factor;
    w_bar = static_cast<int64_t>(std::ceil(w * beta / f)) * factor;
  }
  return {h_bar, w_bar};
}

VisionPreprocessing vision_preprocessing_from(const json::Value& config, const std::string& source) {
  if (!config.is_object()) fail(Status::kFormat, source, ": not a JSON object");
  VisionPreprocessing p;
  // Bounds far past every released model's (patch 14 or 16, merge 2, temporal 2, at most 12,845,056 pixels),
  // so that a hostile file cannot make the sizes overflow or the resized image take gigabytes: 2^26 pixels
  // are over 85,000 tokens of 28 x 28.
  auto integer = [&](const json::Value* v, const char* key, int64_t fallback, int64_t most) {
    if (!v || v->is_null()) return fallback;
    if (!v->is_number() || v->as_int() <= 0 || v->as_int() > most)
      fail(Status::kFormat, source, ": ", key, " must be a positive integer up to ", most);
    return v->as_int();
  };
  constexpr int64_t kMostPixels = int64_t{1} << 26, kMostPatch = 1024, kMostMerge = 64, kMostTemporal = 64;
  const json::Value* size = config.find("size");
  const bool sized = size && size->is_object();
  p.min_pixels = integer(config.find("min_pixels"), "min_pixels",
                         integer(sized ? size->find("shortest_edge") : nullptr, "size.shortest_edge", p.min_pixels, kMostPixels),
                         kMostPixels);
  p.max_pixels = integer(config.find("max_pixels"), "max_pixels",
                         integer(sized ? size->find("longest_edge") : nullptr, "size.longest_edge", p.max_pixels, kMostPixels),
                         kMostPixels);
  p.patch_size = integer(config.find("patch_size"), "patch_size", p.patch_size, kMostPatch);
  p.temporal_patch_size = integer(config.find("temporal_patch_size"), "temporal_patch_size", p.temporal_patch_size, kMostTemporal);
  p.merge_size = integer(config.find("merge_size"), "merge_size", p.merge_size, kMostMerge);
  if (p.min_pixels > p.max_pixels) fail(Status::kFormat, source, ": min_pixels is more than max_pixels");
  read_normalisation(config, source, p.mean, p.std);
  return p;
}

VisionPatches preprocess_qwen2_vl(const RgbImage& image, const VisionPreprocessing& p) {
  const int64_t factor = p.patch_size * p.merge_size;
  const auto [height, width] = smart_resize(image.height, image.width, factor, p.min_pixels, p.max_pixels);
  const RgbImage resized = resize_bicubic(image, width, height, p.resize);
  const std::vector<float> chw = normalised_channels(resized.pixels.data(), height, width, p.mean, p.std);
  constexpr int64_t C = 3;
  VisionPatches out;
  const int64_t P = p.patch_size, T = p.temporal_patch_size, M = p.merge_size;
  out.grid_t = 1;  // one image, repeated over the temporal patch
  out.grid_h = height / P;
  out.grid_w = width / P;
  out.patch_dim = C * T * P * P;
  out.pixels.resize(static_cast<size_t>(out.patches() * out.patch_dim));
  float* dst = out.pixels.data();
  // patch order: (block row, block column, row in block, column in block); within one: (channel, frame, y, x)
  for (int64_t bh = 0; bh < out.grid_h / M; ++bh)
    for (int64_t bw = 0; bw < out.grid_w / M; ++bw)
      for (int64_t mh = 0; mh < M; ++mh)
        for (int64_t mw = 0; mw < M; ++mw)
          for (int64_t c = 0; c < C; ++c)
            for (int64_t t = 0; t < T; ++t)
              for (int64_t py = 0; py < P; ++py) {
                const int64_t y = (bh * M + mh) * P + py, x0 = (bw * M + mw) * P;
                const float* src = chw.data() + (c * height + y) * width + x0;
                dst = std::copy(src, src + P, dst);
              }
  return out;
}

}  // namespace mb::engine
