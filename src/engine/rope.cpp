#include "engine/rope.h"

#include <cmath>

#include "core/error.h"

namespace mb::engine {

std::vector<float> rotary_inverse_frequencies(const bridge::ModelConfig& c, const std::string& where) {
  const RopeScaling& s = c.rope_scaling;
  if (s.type != "default" && s.type != "linear" && s.type != "llama3")
    fail(Status::kUnsupported, where, ": rope scaling '", s.type, "' is not implemented by the engine");
  const int64_t d = c.rotary_dim();
  std::vector<float> inv(static_cast<size_t>(d / 2));
  for (int64_t i = 0; i < d / 2; ++i)
    inv[static_cast<size_t>(i)] = static_cast<float>(1.0 / std::pow(c.rotary_base, double(2 * i) / double(d)));
  if (s.type == "linear") {
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
