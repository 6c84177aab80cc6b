// The float32 reference's arithmetic on rows: products with double accumulation, norms, activations. Shared
// by the CPU decoder (cpu_model.cpp) and vision towers (cpu_vision.cpp, cpu_qwen_vision.cpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace mb::engine::cpu_math {

// out[r] = sum_k w[r][k] * x[k] for a row-major weight [rows x cols].
inline void matvec(const float* w, const float* x, int64_t rows, int64_t cols, float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = w + r * cols;
    double acc = 0;  // double accumulation: the reference should not add error of its own
    for (int64_t k = 0; k < cols; ++k) acc += double(row[k]) * double(x[k]);
    out[r] = static_cast<float>(acc);
  }
}

inline void rms_norm(const float* x, const float* weight, int64_t n, double eps, float* out) {
  double sum = 0;
  for (int64_t k = 0; k < n; ++k) sum += double(x[k]) * double(x[k]);
  const float scale = static_cast<float>(1.0 / std::sqrt(sum / double(n) + eps));
  for (int64_t k = 0; k < n; ++k) out[k] = weight[k] * (x[k] * scale);
}

// LayerNorm (GPT-2): (x - mean) / sqrt(var + eps) * weight + bias
inline void layer_norm(const float* x, const float* weight, const float* bias, int64_t n, double eps, float* out) {
  double sum = 0, squares = 0;
  for (int64_t k = 0; k < n; ++k) sum += x[k];
  const double mean = sum / double(n);
  for (int64_t k = 0; k < n; ++k) squares += (x[k] - mean) * (x[k] - mean);
  const double inv = 1.0 / std::sqrt(squares / double(n) + eps);
  for (int64_t k = 0; k < n; ++k) out[k] = static_cast<float>((x[k] - mean) * inv) * weight[k] + bias[k];
}

// in place, in double: exp(v - max) / sum
inline void softmax(std::vector<double>* v) {
  const double m = *std::max_element(v->begin(), v->end());
  double sum = 0;
  for (double& x : *v) sum += (x = std::exp(x - m));
  for (double& x : *v) x /= sum;
}

inline float silu(float v) { return v / (1.0f + std::exp(-v)); }

// the exact GELU (transformers' "gelu")
inline float gelu(float v) { return 0.5f * v * (1.0f + std::erf(v * 0.7071067811865476f)); }

// GELU with the tanh approximation (transformers' gelu_pytorch_tanh), Gemma's GeGLU activation
inline float gelu_tanh(float v) {
  const float k = 0.7978845608028654f;  // sqrt(2 / pi)
  return 0.5f * v * (1.0f + std::tanh(k * (v + 0.044715f * v * v * v)));
}

// CLIP's quick_gelu: x * sigmoid(1.702 x)
inline float quick_gelu(float v) { return v / (1.0f + std::exp(-1.702f * v)); }

inline float activation(const std::string& name, float v) {
  if (name == "gelu_tanh") return gelu_tanh(v);
  if (name == "quick_gelu") return quick_gelu(v);
  if (name == "gelu") return gelu(v);
  return silu(v);
}

}  // namespace mb::engine::cpu_math
