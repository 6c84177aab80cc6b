// LLaVA's image path on the CPU reference: CLIP's vision tower (patch convolution, class token, learned
// positions, pre-LayerNorm, pre-LN encoder layers with full attention and quick_gelu MLPs) up to the layer
// whose output the features are, the class token dropped, then the two-layer GELU projector; the features
// replace the image tokens' embeddings in order, as transformers' LlavaModel does (masked_scatter).
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "engine/cpu/cpu_math.h"
#include "engine/cpu/cpu_model.h"

namespace mb::engine {

using bridge::ParamKind;
using namespace cpu_math;

std::vector<float> CpuModel::image_features(const Image& image) const {
  const bridge::ModelConfig& c = config_;
  const bridge::ModelConfig& v = *c.vision;
  const int64_t C = c.image_channels, size = c.image_size, P = c.patch_size, side = size / P;
  check_tower_image(c, image);
  const int64_t N = side * side, S = N + 1, D = v.hidden_size, heads = v.num_attention_heads, d = v.kv_channels;
  const int64_t F = v.ffn_hidden_size, H = c.hidden_size;
  auto w = [&](ParamKind kind, int layer = -1) { return param(static_cast<int>(kind), layer).data(); };

  // the class token, then each patch through the convolution (weight [D][C][P][P], no bias), plus positions
  std::vector<float> x(static_cast<size_t>(S * D)), patch(static_cast<size_t>(C * P * P));
  std::copy_n(w(ParamKind::kVisionClassToken), D, x.begin());
  for (int64_t n = 0; n < N; ++n) {
    const int64_t py = n / side, px = n % side;
    for (int64_t ch = 0; ch < C; ++ch)
      for (int64_t i = 0; i < P; ++i)
        for (int64_t j = 0; j < P; ++j)
          patch[static_cast<size_t>((ch * P + i) * P + j)] =
              image.pixels[static_cast<size_t>((ch * size + py * P + i) * size + px * P + j)];
    matvec(w(ParamKind::kVisionPatchEmbedding), patch.data(), D, C * P * P, &x[(n + 1) * D]);
  }
  const float* positions = w(ParamKind::kVisionPositionEmbedding);
  for (int64_t k = 0; k < S * D; ++k) x[k] += positions[k];
  for (int64_t s = 0; s < S; ++s)
    layer_norm(&x[s * D], w(ParamKind::kVisionPreNorm), w(ParamKind::kVisionPreNormBias), D, v.norm_epsilon, &x[s * D]);

  std::vector<float> h(static_cast<size_t>(S * D)), qkv(static_cast<size_t>(S * 3 * D)), attn(static_cast<size_t>(S * D));
  std::vector<float> out(static_cast<size_t>(D)), hidden(static_cast<size_t>(F));
  std::vector<double> scores(static_cast<size_t>(S));
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  for (int layer = 0; layer < v.num_layers; ++layer) {
    // attention: q, k, v of every position (per head [q, k, v], every head its own group), all positions seen
    for (int64_t s = 0; s < S; ++s) {
      layer_norm(&x[s * D], w(ParamKind::kVisionInputNorm, layer), w(ParamKind::kVisionInputNormBias, layer), D,
                 v.norm_epsilon, &h[s * D]);
      float* row = &qkv[s * 3 * D];
      matvec(w(ParamKind::kVisionQkv, layer), &h[s * D], 3 * D, D, row);
      const float* bias = w(ParamKind::kVisionQkvBias, layer);
      for (int64_t r = 0; r < 3 * D; ++r) row[r] += bias[r];
    }
    for (int64_t head = 0; head < heads; ++head)
      for (int64_t s = 0; s < S; ++s) {
        const float* q = &qkv[s * 3 * D + head * 3 * d];
        for (int64_t t = 0; t < S; ++t) {
          const float* k = &qkv[t * 3 * D + head * 3 * d + d];
          double dot = 0;
          for (int64_t i = 0; i < d; ++i) dot += double(q[i]) * double(k[i]);
          scores[static_cast<size_t>(t)] = dot * scale;
        }
        const double m = *std::max_element(scores.begin(), scores.end());
        double sum = 0;
        for (double& p : scores) sum += (p = std::exp(p - m));
        for (int64_t i = 0; i < d; ++i) {
          double acc = 0;
          for (int64_t t = 0; t < S; ++t) acc += scores[static_cast<size_t>(t)] * qkv[t * 3 * D + head * 3 * d + 2 * d + i];
          attn[s * D + head * d + i] = static_cast<float>(acc / sum);
        }
      }
    for (int64_t s = 0; s < S; ++s) {
      matvec(w(ParamKind::kVisionProj, layer), &attn[s * D], D, D, out.data());
      const float* bias = w(ParamKind::kVisionProjBias, layer);
      for (int64_t k = 0; k < D; ++k) x[s * D + k] += out[k] + bias[k];
      // MLP
      layer_norm(&x[s * D], w(ParamKind::kVisionPreMlpNorm, layer), w(ParamKind::kVisionPreMlpNormBias, layer), D,
                 v.norm_epsilon, h.data());
      matvec(w(ParamKind::kVisionFc1, layer), h.data(), F, D, hidden.data());
      const float* b1 = w(ParamKind::kVisionFc1Bias, layer);
      for (int64_t k = 0; k < F; ++k) hidden[k] = activation(v.mlp_activation, hidden[k] + b1[k]);
      matvec(w(ParamKind::kVisionFc2, layer), hidden.data(), D, F, out.data());
      const float* b2 = w(ParamKind::kVisionFc2Bias, layer);
      for (int64_t k = 0; k < D; ++k) x[s * D + k] += out[k] + b2[k];
    }
  }

  // the projector over the patches' features (the class token dropped)
  std::vector<float> features(static_cast<size_t>(N * H)), mid(static_cast<size_t>(H));
  for (int64_t n = 0; n < N; ++n) {
    matvec(w(ParamKind::kProjectorFc1), &x[(n + 1) * D], H, D, mid.data());
    for (int64_t k = 0; k < H; ++k)
      mid[k] = gelu(mid[k] + (c.projector_bias ? w(ParamKind::kProjectorFc1Bias)[k] : 0.f));
    float* f = &features[n * H];
    matvec(w(ParamKind::kProjectorFc2), mid.data(), H, H, f);
    if (c.projector_bias)
      for (int64_t k = 0; k < H; ++k) f[k] += w(ParamKind::kProjectorFc2Bias)[k];
  }
  return features;
}

void CpuModel::merge_images(const std::vector<int32_t>& ids, const std::vector<Image>* images, float* x) const {
  const bridge::ModelConfig& c = config_;
  if (!c.vision) return merge_qwen_images(ids, images, x);
  const int64_t per_image = c.image_tokens(), H = c.hidden_size;
  const int64_t slots = std::count(ids.begin(), ids.end(), static_cast<int32_t>(c.image_token_index));
  const int64_t given = images ? static_cast<int64_t>(images->size()) : 0;
  if (slots == 0 && given == 0) return;
  if (slots != given * per_image)
    fail(Status::kInvalidArgument, "the prompt has ", slots, " image tokens (id ", c.image_token_index, ") for ", given,
         " image(s) of ", per_image, " each");
  int64_t next = 0;  // the next image feature, counting over all images
  std::vector<float> features;
  for (size_t t = 0; t < ids.size(); ++t) {
    if (ids[t] != c.image_token_index) continue;
    if (next % per_image == 0) features = image_features((*images)[static_cast<size_t>(next / per_image)]);
    std::copy_n(&features[static_cast<size_t>((next % per_image) * H)], H, x + t * H);
    ++next;
  }
}

}  // namespace mb::engine
