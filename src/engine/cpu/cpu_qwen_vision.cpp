// Qwen2.5-VL's vision tower on the CPU, in transformers' order (Qwen2_5_VisionTransformerPretrainedModel):
// patch embedding (the Conv3d as a product with each patch's values), 2-D rotary angles from each patch's row
// and column, the patches regrouped window by window (windows of window_size pixels, in units of merge x merge
// patches), blocks of RMSNorm + attention + RMSNorm + SwiGLU with biases — attention within each window, or over
// the whole image on the full-attention blocks — then the merger (RMSNorm, each unit's patches as one vector,
// Linear, exact GELU, Linear) and the units put back in image order. Its weights are transformers' own
// (ParamKind::kVerbatim, by name).
#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "engine/cpu/cpu_math.h"
#include "engine/cpu/cpu_model.h"
#include "io/json.h"

namespace mb::engine {

using namespace cpu_math;

namespace {

constexpr double kVisionNormEpsilon = 1e-6;  // transformers builds the tower's RMSNorms with 1e-6

struct TowerShape {
  int64_t depth = 0, hidden = 0, heads = 0, head_dim = 0, ffn = 0, patch = 14, temporal = 2, merge = 2;
  int64_t window = 112, out = 0, channels = 3;
  std::vector<bool> full_attention;  // per block
};

TowerShape tower_shape(const bridge::ModelConfig& c) {
  const json::Value* v = c.hf_config.is_object() ? c.hf_config.find("vision_config") : nullptr;
  if (!v || !v->is_object()) fail(Status::kInvalidArgument, c.family, ": the config has no vision_config");
  auto get = [&](const char* key, int64_t fallback) {
    const json::Value* x = v->find(key);
    return x && x->is_number() ? x->as_int() : fallback;
  };
  TowerShape s;
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
  if (s.depth <= 0 || s.hidden <= 0 || s.heads <= 0 || s.hidden % s.heads || (s.hidden / s.heads) % 4)
    fail(Status::kUnsupported, c.family, ": vision tower of hidden_size ", s.hidden, " and ", s.heads, " heads");
  s.head_dim = s.hidden / s.heads;
  s.full_attention.assign(static_cast<size_t>(s.depth), false);
  if (const json::Value* f = v->find("fullatt_block_indexes"); f && f->is_array())
    for (const json::Value& i : f->items())
      if (i.is_number() && i.as_int() >= 0 && i.as_int() < s.depth) s.full_attention[static_cast<size_t>(i.as_int())] = true;
  return s;
}

// Rotate-half of one head with its own angle per pair (j, j + d/2).
void rotate_pairs(float* head, int64_t d, const float* angles) {
  for (int64_t j = 0; j < d / 2; ++j) {
    const float c = std::cos(angles[j]), s = std::sin(angles[j]);
    const float a = head[j], b = head[j + d / 2];
    head[j] = a * c - b * s;
    head[j + d / 2] = b * c + a * s;
  }
}

}  // namespace

std::vector<float> CpuModel::qwen_image_features(const Image& image) const {
  const TowerShape s = tower_shape(config_);
  const int64_t gt = image.grid_t, gh = image.grid_h, gw = image.grid_w, M = s.merge, unit = M * M;
  const int64_t N = gt * gh * gw, D = s.hidden, dim = s.channels * s.temporal * s.patch * s.patch;
  if (gt <= 0 || gh <= 0 || gw <= 0 || gh % M || gw % M)
    fail(Status::kInvalidArgument, "an image grid of ", gt, " x ", gh, " x ", gw, " patches (rows and columns must be "
         "multiples of ", M, ")");
  if (static_cast<int64_t>(image.pixels.size()) != N * dim)
    fail(Status::kInvalidArgument, "an image of ", image.pixels.size(), " values for ", N, " patches of ", dim);
  auto w = [&](const std::string& name) { return verbatim(name).data(); };  // (looked up once, outside the loops)
  const std::string v = "visual.";

  // patch embedding; each patch's (row, column) angles: half the rotary pairs turn with the row, half with
  // the column, at 10000^(-4i / head_dim)
  const int64_t quarter = s.head_dim / 4;
  std::vector<float> inv(static_cast<size_t>(quarter));
  for (int64_t i = 0; i < quarter; ++i)
    inv[static_cast<size_t>(i)] = static_cast<float>(1.0 / std::pow(10000.0, double(2 * i) / double(s.head_dim / 2)));
  std::vector<float> x(static_cast<size_t>(N * D)), angles(static_cast<size_t>(N * s.head_dim / 2));
  const int64_t units_h = gh / M, units_w = gw / M;
  const float* patch_embed = w(v + "patch_embed.proj.weight");
  for (int64_t n = 0; n < N; ++n) {
    matvec(patch_embed, &image.pixels[static_cast<size_t>(n * dim)], D, dim, &x[n * D]);
    const int64_t u = n / unit % (units_h * units_w), m = n % unit;  // (patches come merge unit by merge unit)
    const int64_t row = u / units_w * M + m / M, col = u % units_w * M + m % M;
    for (int64_t i = 0; i < quarter; ++i) {
      angles[static_cast<size_t>(n * s.head_dim / 2 + i)] = static_cast<float>(row) * inv[static_cast<size_t>(i)];
      angles[static_cast<size_t>(n * s.head_dim / 2 + quarter + i)] = static_cast<float>(col) * inv[static_cast<size_t>(i)];
    }
  }

  // the units regrouped window by window (each frame's windows in turn), and where each window starts
  const int64_t per_window = s.window / M / s.patch;
  std::vector<int64_t> order, windows = {0}, frames = {0};
  for (int64_t t = 0; t < gt; ++t) {
    const int64_t rows_w = (units_h + per_window - units_h % per_window) / per_window;
    const int64_t cols_w = (units_w + per_window - units_w % per_window) / per_window;
    for (int64_t a = 0; a < rows_w; ++a)
      for (int64_t b = 0; b < cols_w; ++b) {
        const size_t before = order.size();
        for (int64_t r = a * per_window; r < std::min((a + 1) * per_window, units_h); ++r)
          for (int64_t q = b * per_window; q < std::min((b + 1) * per_window, units_w); ++q)
            order.push_back((t * units_h + r) * units_w + q);
        if (order.size() > before) windows.push_back(static_cast<int64_t>(order.size()) * unit);
      }
    frames.push_back(static_cast<int64_t>(order.size()) * unit);
  }
  auto regroup = [&](const std::vector<float>& from, int64_t width) {
    std::vector<float> to(from.size());
    for (size_t i = 0; i < order.size(); ++i)
      std::copy_n(&from[static_cast<size_t>(order[i] * unit * width)], unit * width, &to[i * static_cast<size_t>(unit * width)]);
    return to;
  };
  x = regroup(x, D);
  angles = regroup(angles, s.head_dim / 2);

  std::vector<float> h(static_cast<size_t>(D)), qkv(static_cast<size_t>(N * 3 * D)), attn(static_cast<size_t>(N * D));
  std::vector<float> y(static_cast<size_t>(D)), gate(static_cast<size_t>(s.ffn)), up(static_cast<size_t>(s.ffn));
  const double scale = 1.0 / std::sqrt(static_cast<double>(s.head_dim));
  for (int64_t b = 0; b < s.depth; ++b) {
    const std::string p = v + "blocks." + std::to_string(b) + ".";
    const float *norm1 = w(p + "norm1.weight"), *qkv_w = w(p + "attn.qkv.weight"), *qkv_b = w(p + "attn.qkv.bias");
    const float *proj_w = w(p + "attn.proj.weight"), *proj_b = w(p + "attn.proj.bias"), *norm2 = w(p + "norm2.weight");
    const float *gate_w = w(p + "mlp.gate_proj.weight"), *gate_b = w(p + "mlp.gate_proj.bias");
    const float *up_w = w(p + "mlp.up_proj.weight"), *up_b = w(p + "mlp.up_proj.bias");
    const float *down_w = w(p + "mlp.down_proj.weight"), *down_b = w(p + "mlp.down_proj.bias");
    for (int64_t n = 0; n < N; ++n) {  // q, k, v of every patch ([3][heads][head_dim]), q and k rotated
      rms_norm(&x[n * D], norm1, D, kVisionNormEpsilon, h.data());
      float* row = &qkv[n * 3 * D];
      matvec(qkv_w, h.data(), 3 * D, D, row);
      for (int64_t r = 0; r < 3 * D; ++r) row[r] += qkv_b[r];
      for (int64_t hd = 0; hd < 2 * s.heads; ++hd) rotate_pairs(row + hd * s.head_dim, s.head_dim, &angles[n * s.head_dim / 2]);
    }
    // attention within each window (or, on a full-attention block, each frame), every patch seeing every one
    const std::vector<int64_t>& bounds = s.full_attention[static_cast<size_t>(b)] ? frames : windows;
    for (size_t seg = 0; seg + 1 < bounds.size(); ++seg)
      for (int64_t n = bounds[seg]; n < bounds[seg + 1]; ++n)
        for (int64_t hd = 0; hd < s.heads; ++hd) {
          const float* q = &qkv[(n * 3) * D + hd * s.head_dim];
          std::vector<double> scores(static_cast<size_t>(bounds[seg + 1] - bounds[seg]));
          for (int64_t m = bounds[seg]; m < bounds[seg + 1]; ++m) {
            const float* k = &qkv[(m * 3 + 1) * D + hd * s.head_dim];
            double dot = 0;
            for (int64_t i = 0; i < s.head_dim; ++i) dot += double(q[i]) * double(k[i]);
            scores[static_cast<size_t>(m - bounds[seg])] = dot * scale;
          }
          softmax(&scores);
          for (int64_t i = 0; i < s.head_dim; ++i) {
            double acc = 0;
            for (int64_t m = bounds[seg]; m < bounds[seg + 1]; ++m)
              acc += scores[static_cast<size_t>(m - bounds[seg])] * qkv[(m * 3 + 2) * D + hd * s.head_dim + i];
            attn[n * D + hd * s.head_dim + i] = static_cast<float>(acc);
          }
        }
    for (int64_t n = 0; n < N; ++n) {
      matvec(proj_w, &attn[n * D], D, D, y.data());
      for (int64_t k = 0; k < D; ++k) x[n * D + k] += y[k] + proj_b[k];
      rms_norm(&x[n * D], norm2, D, kVisionNormEpsilon, h.data());
      matvec(gate_w, h.data(), s.ffn, D, gate.data());
      matvec(up_w, h.data(), s.ffn, D, up.data());
      for (int64_t i = 0; i < s.ffn; ++i) gate[i] = silu(gate[i] + gate_b[i]) * (up[i] + up_b[i]);
      matvec(down_w, gate.data(), D, s.ffn, y.data());
      for (int64_t k = 0; k < D; ++k) x[n * D + k] += y[k] + down_b[k];
    }
  }

  // the merger: each unit's normalised patches as one vector through Linear, GELU, Linear; units back in image order
  const int64_t U = N / unit, wide = D * unit;
  std::vector<float> merged(static_cast<size_t>(wide)), mid(static_cast<size_t>(wide));
  std::vector<float> features(static_cast<size_t>(U * s.out));
  const float *ln_q = w(v + "merger.ln_q.weight"), *fc0_w = w(v + "merger.mlp.0.weight"), *fc0_b = w(v + "merger.mlp.0.bias");
  const float *fc2_w = w(v + "merger.mlp.2.weight"), *fc2_b = w(v + "merger.mlp.2.bias");
  for (int64_t i = 0; i < U; ++i) {
    for (int64_t m = 0; m < unit; ++m)
      rms_norm(&x[(i * unit + m) * D], ln_q, D, kVisionNormEpsilon, &merged[m * D]);
    matvec(fc0_w, merged.data(), wide, wide, mid.data());
    for (int64_t k = 0; k < wide; ++k) mid[k] = gelu(mid[k] + fc0_b[k]);
    float* f = &features[static_cast<size_t>(order[static_cast<size_t>(i)] * s.out)];
    matvec(fc2_w, mid.data(), s.out, wide, f);
    for (int64_t k = 0; k < s.out; ++k) f[k] += fc2_b[k];
  }
  return features;
}

namespace {

// The image tokens an image stands for: one per merge x merge patches
int64_t qwen_image_tokens(const Image& image, int64_t merge) {
  return image.grid_t * (image.grid_h / merge) * (image.grid_w / merge);
}

}  // namespace

void CpuModel::merge_qwen_images(const std::vector<int32_t>& ids, const std::vector<Image>* images, float* x) const {
  const bridge::ModelConfig& c = config_;
  const int64_t H = c.hidden_size, merge = tower_shape(c).merge;
  const int64_t slots = std::count(ids.begin(), ids.end(), static_cast<int32_t>(c.image_token_index));
  int64_t wanted = 0;
  if (images)
    for (const Image& im : *images) wanted += qwen_image_tokens(im, merge);
  if (slots != wanted)
    fail(Status::kInvalidArgument, "the prompt has ", slots, " image tokens (id ", c.image_token_index, ") where its ",
         images ? images->size() : 0, " image(s) need ", wanted);
  size_t image = 0;
  int64_t next = 0, count = 0;  // the next feature of the current image, and how many it has
  std::vector<float> features;
  for (size_t t = 0; t < ids.size(); ++t) {
    if (ids[t] != c.image_token_index) continue;
    if (next == count) {
      features = qwen_image_features((*images)[image]);
      count = qwen_image_tokens((*images)[image++], merge);
      next = 0;
    }
    std::copy_n(&features[static_cast<size_t>(next++ * H)], H, x + t * H);
  }
}

std::vector<std::array<int64_t, 3>> CpuModel::mrope_positions(const std::vector<int32_t>& ids,
                                                               const std::vector<Image>* images, int64_t start,
                                                               int64_t* delta) const {
  const int64_t merge = images && !images->empty() ? tower_shape(config_).merge : 1;
  std::vector<std::array<int64_t, 3>> out;
  out.reserve(ids.size());
  int64_t next = start + *delta;  // the next text position
  size_t image = 0;
  for (size_t t = 0; t < ids.size();) {
    if (ids[t] == config_.image_token_index && images && image < images->size()) {
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
