// Qwen2.5-VL's vision tower on the CPU, in transformers' order (Qwen2_5_VisionTransformerPretrainedModel):
// patch embedding (the Conv3d as a product with each patch's values), 2-D rotary angles from each patch's row
// and column, the patches regrouped window by window (windows of window_size pixels, in units of merge x merge
// patches), blocks of RMSNorm + attention + RMSNorm + SwiGLU with biases — attention within each window, or over
// the whole image on the full-attention blocks — then the merger (RMSNorm, each unit's patches as one vector,
// Linear, exact GELU, Linear) and the units put back in image order. Its weights are transformers' own
// (ParamKind::kVerbatim, by name); the patch order, windows and angles are qwen_vision_plan.h's.
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "engine/cpu/cpu_math.h"
#include "engine/cpu/cpu_model.h"

namespace mb::engine {

using namespace cpu_math;

namespace {

constexpr double kVisionNormEpsilon = 1e-6;  // transformers builds the tower's RMSNorms with 1e-6

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
  if (!qwen_tower_) fail(Status::kInternal, config_.family, " has no Qwen vision tower");
  const QwenTowerShape& s = *qwen_tower_;
  const QwenTowerPlan plan = qwen_tower_plan(s, image);
  const int64_t unit = s.merge * s.merge, N = plan.patches, D = s.hidden, dim = s.patch_values();
  auto w = [&](const std::string& name) { return verbatim(name).data(); };  // (looked up once, outside the loops)
  const std::string v = "visual.";

  // patch embedding, the patches taken in the tower's order (window by window); their angles come in it
  std::vector<float> x(static_cast<size_t>(N * D));
  const float* patch_embed = w(v + "patch_embed.proj.weight");
  for (int64_t i = 0; i < plan.units; ++i)
    for (int64_t m = 0; m < unit; ++m) {
      const int64_t from = plan.order[static_cast<size_t>(i)] * unit + m, to = i * unit + m;
      matvec(patch_embed, &image.pixels[static_cast<size_t>(from * dim)], D, dim, &x[to * D]);
    }
  const std::vector<float>& angles = plan.angles;
  const std::vector<int64_t>& windows = plan.windows;
  const std::vector<int64_t>& frames = plan.frames;

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
  const int64_t U = plan.units, wide = D * unit;
  std::vector<float> merged(static_cast<size_t>(wide)), mid(static_cast<size_t>(wide));
  std::vector<float> features(static_cast<size_t>(U * s.out));
  const float *ln_q = w(v + "merger.ln_q.weight"), *fc0_w = w(v + "merger.mlp.0.weight"), *fc0_b = w(v + "merger.mlp.0.bias");
  const float *fc2_w = w(v + "merger.mlp.2.weight"), *fc2_b = w(v + "merger.mlp.2.bias");
  for (int64_t i = 0; i < U; ++i) {
    for (int64_t m = 0; m < unit; ++m)
      rms_norm(&x[(i * unit + m) * D], ln_q, D, kVisionNormEpsilon, &merged[m * D]);
    matvec(fc0_w, merged.data(), wide, wide, mid.data());
    for (int64_t k = 0; k < wide; ++k) mid[k] = gelu(mid[k] + fc0_b[k]);
    float* f = &features[static_cast<size_t>(plan.order[static_cast<size_t>(i)] * s.out)];
    matvec(fc2_w, mid.data(), s.out, wide, f);
    for (int64_t k = 0; k < s.out; ++k) f[k] += fc2_b[k];
  }
  return features;
}

void CpuModel::merge_qwen_images(const std::vector<int32_t>& ids, const std::vector<Image>* images, float* x) const {
  const bridge::ModelConfig& c = config_;
  const int64_t H = c.hidden_size, merge = qwen_tower_->merge;
  check_qwen_image_tokens(c, merge, ids.data(), ids.size(), images, "the prompt");
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
  const int64_t merge = qwen_tower_ ? qwen_tower_->merge : 1;
  return qwen_mrope_positions(config_, merge, ids, images, start, delta);
}

}  // namespace mb::engine
