#include "engine/qwen_vision_plan.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "io/json.h"

namespace mb::engine {

QwenTowerShape qwen_tower_shape(const bridge::ModelConfig& c) {
  const json::Value* v = c.hf_config.is_object() ? c.hf_config.find("vision_config") : nullptr;
  if (!v || !v->is_object()) fail(Status::kInvalidArgument, c.family, ": the config has no vision_config");
  auto get = [&](const char* key, int64_t fallback) {
    const json::Value* x = v->find(key);
    return x && x->is_number() ? x->as_int() : fallback;
  };
  QwenTowerShape s;
  s.depth = get("depth", 0);
  s.hidden = get("hidden_size", 0);
  s.heads = get("num_heads", 0);
  s.ffn = get("intermediate_size", 0);
  s.patch = get("patch_size", 14);
  s.temporal = get("temporal_patch_size", 2);
  s.merge = get("spatial_merge_size", 2);
  s.window = get("window_size", 112);
  s.out = get("out_hidden_size", c.hidden_size);
  s.channels = get("in_channels", get("in_chans", 3));
  if (s.depth <= 0 || s.hidden <= 0 || s.heads <= 0 || s.hidden % s.heads || (s.hidden / s.heads) % 4 || s.ffn <= 0)
    fail(Status::kUnsupported, c.family, ": vision tower of hidden_size ", s.hidden, " and ", s.heads, " heads");
  if (s.patch <= 0 || s.temporal <= 0 || s.merge <= 0 || s.channels <= 0 || s.window < s.merge * s.patch)
    fail(Status::kUnsupported, c.family, ": vision tower patches of ", s.patch, ", window ", s.window);
  s.head_dim = s.hidden / s.heads;
  s.full_attention.assign(static_cast<size_t>(s.depth), false);
  if (const json::Value* f = v->find("fullatt_block_indexes"); f && f->is_array())
    for (const json::Value& i : f->items())
      if (i.is_number() && i.as_int() >= 0 && i.as_int() < s.depth) s.full_attention[static_cast<size_t>(i.as_int())] = true;
  return s;
}

int64_t qwen_image_tokens(const Image& image, int64_t merge) {
  return image.grid_t * (image.grid_h / merge) * (image.grid_w / merge);
}

void check_qwen_image_tokens(const bridge::ModelConfig& c, int64_t merge, const int32_t* ids, size_t count,
                             const std::vector<Image>* images, const std::string& what) {
  const int64_t slots = std::count(ids, ids + count, static_cast<int32_t>(c.image_token_index));
  int64_t wanted = 0;
  if (images)
    for (const Image& im : *images) wanted += qwen_image_tokens(im, merge);
  if (slots != wanted)
    fail(Status::kInvalidArgument, what, " has ", slots, " image tokens (id ", c.image_token_index, ") where its ",
         images ? images->size() : 0, " image(s) need ", wanted);
}

QwenTowerPlan qwen_tower_plan(const QwenTowerShape& s, const Image& image) {
  const int64_t gt = image.grid_t, gh = image.grid_h, gw = image.grid_w, M = s.merge, unit = M * M;
  if (gt <= 0 || gh <= 0 || gw <= 0 || gh % M || gw % M || gt * gh * gw > kMaxImagePatches)
    fail(Status::kInvalidArgument, "an image grid of ", gt, " x ", gh, " x ", gw, " patches (rows and columns must be "
         "multiples of ", M, ", at most ", kMaxImagePatches, " patches)");
  QwenTowerPlan p;
  p.patches = gt * gh * gw;
  p.units = p.patches / unit;
  if (static_cast<int64_t>(image.pixels.size()) != p.patches * s.patch_values())
    fail(Status::kInvalidArgument, "an image of ", image.pixels.size(), " values for ", p.patches, " patches of ",
         s.patch_values());

  // the units regrouped window by window (each frame's windows in turn), and where each window starts
  const int64_t units_h = gh / M, units_w = gw / M, per_window = s.window / M / s.patch;
  p.windows = {0};
  p.frames = {0};
  for (int64_t t = 0; t < gt; ++t) {
    const int64_t rows_w = (units_h + per_window - 1) / per_window, cols_w = (units_w + per_window - 1) / per_window;
    for (int64_t a = 0; a < rows_w; ++a)
      for (int64_t b = 0; b < cols_w; ++b) {
        for (int64_t r = a * per_window; r < std::min((a + 1) * per_window, units_h); ++r)
          for (int64_t q = b * per_window; q < std::min((b + 1) * per_window, units_w); ++q)
            p.order.push_back((t * units_h + r) * units_w + q);
        p.windows.push_back(static_cast<int64_t>(p.order.size()) * unit);
      }
    p.frames.push_back(static_cast<int64_t>(p.order.size()) * unit);
  }

  // each patch's angles: half the rotary pairs turn with its row, half with its column, at 10000^(-4i / head_dim)
  const int64_t half = s.head_dim / 2, quarter = s.head_dim / 4;
  std::vector<float> inv(static_cast<size_t>(quarter));
  for (int64_t i = 0; i < quarter; ++i)
    inv[static_cast<size_t>(i)] = static_cast<float>(1.0 / std::pow(10000.0, double(2 * i) / double(half)));
  p.angles.resize(static_cast<size_t>(p.patches * half));
  for (int64_t i = 0; i < p.units; ++i) {
    const int64_t u = p.order[static_cast<size_t>(i)] % (units_h * units_w);  // (the frame does not turn them)
    for (int64_t m = 0; m < unit; ++m) {
      const int64_t row = u / units_w * M + m / M, col = u % units_w * M + m % M;
      float* a = &p.angles[static_cast<size_t>((i * unit + m) * half)];
      for (int64_t k = 0; k < quarter; ++k) {
        a[k] = static_cast<float>(row) * inv[static_cast<size_t>(k)];
        a[quarter + k] = static_cast<float>(col) * inv[static_cast<size_t>(k)];
      }
    }
  }
  return p;
}

std::vector<std::array<int64_t, 3>> qwen_mrope_positions(const bridge::ModelConfig& c, int64_t merge,
                                                         const std::vector<int32_t>& ids,
                                                         const std::vector<Image>* images, int64_t start,
                                                         int64_t* delta) {
  std::vector<std::array<int64_t, 3>> out;
  out.reserve(ids.size());
  int64_t next = start + *delta;  // the next text position
  size_t image = 0;
  for (size_t t = 0; t < ids.size();) {
    if (ids[t] == c.image_token_index && images && image < images->size()) {
      const Image& im = (*images)[image++];
      const int64_t rows = im.grid_h / merge, cols = im.grid_w / merge, n = qwen_image_tokens(im, merge);
      for (int64_t k = 0; k < n && t < ids.size(); ++k, ++t)  // (an image's time index is 0)
        out.push_back({next, next + k / cols % rows, next + k % cols});
      next += std::max(rows, cols);
    } else {
      out.push_back({next, next, next});
      ++next;
      ++t;
    }
  }
  *delta = next - (start + static_cast<int64_t>(ids.size()));
  return out;
}

}  // namespace mb::engine
