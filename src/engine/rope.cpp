#include "engine/rope.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace mb::engine {
namespace {

// The context the model was trained for before yarn stretched it (0: not given)
int64_t original_context(const bridge::ModelConfig& c) {
  const auto& o = c.rope_scaling.original_max_position_embeddings;
  return o && *o > 0 ? *o : 0;
}

// transformers takes the ratio of the context lengths as yarn's factor when the original one is given
// (DeepSeek-V3: 163,840 / 4,096 = its factor 40); the config's factor otherwise.
double yarn_factor(const bridge::ModelConfig& c) {
  if (const int64_t original = original_context(c))
    return static_cast<double>(c.max_position_embeddings) / static_cast<double>(original);
  return c.rope_scaling.factor.value_or(1.0);
}

// yarn (transformers' _compute_yarn_parameters): frequencies that turn fewer than beta_slow times over the
// original context are interpolated (divided by the factor), those that turn more than beta_fast times kept,
// and a linear ramp over the dimensions between.
void apply_yarn(const bridge::ModelConfig& c, int64_t d, std::vector<float>& inv) {
  const RopeScaling& s = c.rope_scaling;
  const double factor = yarn_factor(c), base = c.rotary_base;
  const double original = static_cast<double>(original_context(c) ? original_context(c) : c.max_position_embeddings);
  auto correction_dim = [&](double rotations) {
    return static_cast<double>(d) * std::log(original / (rotations * 2 * M_PI)) / (2 * std::log(base));
  };
  double low = correction_dim(s.beta_fast && *s.beta_fast != 0 ? *s.beta_fast : 32.0);
  double high = correction_dim(s.beta_slow && *s.beta_slow != 0 ? *s.beta_slow : 1.0);
  if (s.truncate.value_or(true)) low = std::floor(low), high = std::ceil(high);
  low = std::max(low, 0.0), high = std::min(high, static_cast<double>(d - 1));
  if (low == high) high += 0.001;
  for (size_t i = 0; i < inv.size(); ++i) {
    const double ramp = std::clamp((static_cast<double>(i) - low) / (high - low), 0.0, 1.0);
    const double extrapolation = inv[i], interpolation = extrapolation / factor;
    inv[i] = static_cast<float>(interpolation * ramp + extrapolation * (1 - ramp));
  }
}

}  // namespace

double rotary_attention_factor(const bridge::ModelConfig& c) {
  const RopeScaling& s = c.rope_scaling;
  if (s.type != "yarn") return 1.0;
  if (s.attention_factor) return *s.attention_factor;
  const double factor = yarn_factor(c);
  if (s.mscale && *s.mscale != 0 && s.mscale_all_dim && *s.mscale_all_dim != 0)
    return bridge::yarn_mscale(factor, *s.mscale) / bridge::yarn_mscale(factor, *s.mscale_all_dim);
  return bridge::yarn_mscale(factor, 1.0);
}

std::vector<float> rotary_inverse_frequencies(const bridge::ModelConfig& c, const std::string& where) {
  const RopeScaling& s = c.rope_scaling;
  if (s.type != "default" && s.type != "linear" && s.type != "llama3" && s.type != "yarn")
    fail(Status::kUnsupported, where, ": rope scaling '", s.type, "' is not implemented by the engine");
  if (s.type == "yarn" && !c.mla)  // (the one yarn family with a transformers reference here is DeepSeek's)
    fail(Status::kUnsupported, where, ": yarn rope scaling is implemented for multi-latent attention (DeepSeek) only");
  const int64_t d = c.rotary_dim();
  std::vector<float> inv(static_cast<size_t>(d / 2));
  for (int64_t i = 0; i < d / 2; ++i)
    inv[static_cast<size_t>(i)] = static_cast<float>(1.0 / std::pow(c.rotary_base, double(2 * i) / double(d)));
  if (s.type == "yarn") {
    apply_yarn(c, d, inv);
  } else if (s.type == "linear") {
    for (float& f : inv) f = static_cast<float>(f / s.factor.value_or(1.0));
  } else if (s.type == "llama3") {
    // Low frequencies slowed by `factor`, high ones kept, the band between blended (as transformers does).
    const double factor = s.factor.value_or(8.0), low = s.low_freq_factor.value_or(1.0), high = s.high_freq_factor.value_or(4.0);
    const double old_len = static_cast<double>(s.original_max_position_embeddings.value_or(8192));
    const double low_wavelen = old_len / low, high_wavelen = old_len / high;
    for (float& f : inv) {
      const double wavelen = 2 * M_PI / f;
      if (wavelen > low_wavelen) {
        f = static_cast<float>(f / factor);
      } else if (wavelen >= high_wavelen) {
        const double smooth = (old_len / wavelen - low) / (high - low);
        f = static_cast<float>((1 - smooth) * f / factor + smooth * f);
      }
    }
  }
  return inv;
}

}  // namespace mb::engine
