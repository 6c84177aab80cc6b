// Each kernel of kernels/ against a plain CPU computation of the same operation on the same (bf16-rounded)
// inputs, at the shapes real models have (head dims 64 and 128, grouped queries, contexts longer than one
// decode split). GPU machine only: tests/gpu/run_gpu_tests.sh (also under compute-sanitizer).
#include <cuda_bf16.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "gpu/device_vector.h"
#include "engine/sampling.h"
#include "kernels/kernels.h"

using mb::kernels::bf16;
using mbtest::DeviceVector;

namespace {

std::vector<bf16> random_bf16(size_t n, std::mt19937& rng, float scale = 1.f) {
  std::normal_distribution<float> dist(0.f, scale);
  std::vector<bf16> v(n);
  for (auto& x : v) x = __float2bfloat16(dist(rng));
  return v;
}

std::vector<float> random_f32(size_t n, std::mt19937& rng, float scale = 1.f) {
  std::normal_distribution<float> dist(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

float f(bf16 x) { return __bfloat162float(x); }

struct AttentionShape {
  int heads, groups, d;
  // Gemma-2's score rules: scale (0: 1 / sqrt(d)), soft cap (0: none), sliding window (0: none)
  float scale = 0.f, softcap = 0.f;
  int window = 0;
  bool causal = true;  // false: BERT's every position sees the whole sequence
  mb::kernels::QkvShape qkv_shape() const {
    mb::kernels::QkvShape q{heads, groups, d};
    q.scale = scale, q.softcap = softcap, q.window = window, q.causal = causal;
    return q;
  }
};

// Softmax attention of one query at position `last` over the keys it sees (0..last, or the window's) of one
// (sequence, group) in the cache, in double.
std::vector<double> attend(const bf16* q, const std::vector<bf16>& k, const std::vector<bf16>& v, int64_t b, int g,
                           int64_t last, const AttentionShape& shape, int64_t cache_len) {
  const int groups = shape.groups, d = shape.d;
  const int64_t first = shape.window > 0 ? std::max<int64_t>(0, last - shape.window + 1) : 0;
  const double scale = shape.scale > 0 ? shape.scale : 1.0 / std::sqrt(double(d));
  std::vector<double> scores(static_cast<size_t>(last + 1 - first));
  for (int64_t s = first; s <= last; ++s) {
    const size_t at = static_cast<size_t>(((b * cache_len + s) * groups + g) * d);
    double dot = 0;
    for (int i = 0; i < d; ++i) dot += double(f(q[i])) * f(k[at + i]);
    dot *= scale;
    if (shape.softcap > 0) dot = shape.softcap * std::tanh(dot / shape.softcap);
    scores[static_cast<size_t>(s - first)] = dot;
  }
  const double m = *std::max_element(scores.begin(), scores.end());
  double sum = 0;
  for (double& s : scores) sum += (s = std::exp(s - m));
  std::vector<double> out(static_cast<size_t>(d), 0.0);
  for (int64_t s = first; s <= last; ++s) {
    const size_t at = static_cast<size_t>(((b * cache_len + s) * groups + g) * d);
    for (int i = 0; i < d; ++i) out[static_cast<size_t>(i)] += scores[static_cast<size_t>(s - first)] / sum * f(v[at + i]);
  }
  return out;
}

std::vector<float> inverse_frequencies(int d) {
  std::vector<float> inv(static_cast<size_t>(d / 2));
  for (int i = 0; i < d / 2; ++i) inv[i] = static_cast<float>(1.0 / std::pow(10000.0, 2.0 * i / d));
  return inv;
}

// Decode attention of one new token per sequence (at `positions`, straight from random qkv rows, with a bias
// and, when `qk_norm`, q/k norms) over random caches of `cache_len`, in `splits` splits, called twice (the
// split counters must be back at zero for the second call): the largest difference from attend() over the
// rotated q and the cache that rope_qkv (tested below) gives; the new keys and values in the cache must be
// rope_qkv's, and nothing else in the cache may change.
double decode_attention_error(AttentionShape s, const std::vector<int32_t>& positions, int64_t cache_len, int splits,
                              bool qk_norm, std::mt19937& rng) {
  const int B = static_cast<int>(positions.size());
  const int64_t width = static_cast<int64_t>(s.heads + 2 * s.groups) * s.d;
  auto qkv = random_f32(static_cast<size_t>(B * width), rng), bias = random_f32(static_cast<size_t>(width), rng, 0.1f);
  auto qn = random_f32(static_cast<size_t>(s.d), rng), kn = random_f32(static_cast<size_t>(s.d), rng);
  const auto inv = inverse_frequencies(s.d);
  auto cache_k = random_bf16(static_cast<size_t>(B * cache_len * s.groups * s.d), rng);
  auto cache_v = random_bf16(cache_k.size(), rng);
  DeviceVector<float> dqkv(qkv), dbias(bias), dqn(qn), dkn(kn), dinv(inv);
  DeviceVector<int32_t> dpos(positions);
  const mb::kernels::QkvShape shape = s.qkv_shape();
  const float* q_norm = qk_norm ? dqn.get() : nullptr;
  const float* k_norm = qk_norm ? dkn.get() : nullptr;
  // the reference: rope_qkv's rotated q and cache, then attend()
  std::vector<int32_t> seq(static_cast<size_t>(B));
  for (int b = 0; b < B; ++b) seq[b] = b;
  DeviceVector<int32_t> dseq(seq);
  DeviceVector<bf16> rq(static_cast<size_t>(B * s.heads * s.d)), rk(cache_k), rv(cache_v);
  mb::kernels::rope_qkv(dqkv.get(), B, shape, dbias.get(), q_norm, k_norm, 1e-6f, dinv.get(), dseq.get(), dpos.get(),
                        rq.get(), rk.get(), rv.get(), cache_len, nullptr);
  const auto q = rq.host(), want_k = rk.host(), want_v = rv.host();
  // the fused kernel
  DeviceVector<bf16> dk(cache_k), dv(cache_v), out(q.size());
  const size_t workspace_bytes = mb::kernels::attention_decode_workspace_bytes(B, shape, splits);
  DeviceVector<unsigned char> work(std::vector<unsigned char>(workspace_bytes, 0));
  double max_diff = 0;
  for (int call = 0; call < 2; ++call) {
    mb::kernels::attention_decode({dqkv.get(), dbias.get(), q_norm, k_norm, 1e-6f, dinv.get()}, dpos.get(), B, shape,
                                  dk.get(), dv.get(), cache_len, splits, work.get(), out.get(), nullptr);
    const auto got = out.host();
    for (int b = 0; b < B; ++b)
      for (int h = 0; h < s.heads; ++h) {
        const size_t at = static_cast<size_t>((b * s.heads + h) * s.d);
        auto want = attend(&q[at], want_k, want_v, b, h / (s.heads / s.groups), positions[b], s, cache_len);
        for (int i = 0; i < s.d; ++i) max_diff = std::max(max_diff, std::fabs(f(got[at + i]) - want[i]));
      }
  }
  const auto got_k = dk.host(), got_v = dv.host();
  for (size_t i = 0; i < got_k.size(); ++i) {
    EXPECT_NEAR(f(got_k[i]), f(want_k[i]), 1e-2 * std::fabs(f(want_k[i])) + 1e-3) << "key cache element " << i;
    EXPECT_EQ(f(got_v[i]), f(want_v[i])) << "value cache element " << i;
    if (::testing::Test::HasFailure()) break;
  }
  const auto workspace = work.host();
  const size_t counters = static_cast<size_t>(B * s.heads) * sizeof(unsigned);
  for (size_t i = workspace_bytes - counters; i < workspace_bytes; ++i) EXPECT_EQ(workspace[i], 0) << "counter byte " << i;
  return max_diff;
}

}  // namespace

TEST(CudaKernels, AttentionPrefillMatchesSoftmaxAttention) {
  std::mt19937 rng(1);
  // the plain shapes, then Gemma-2's rules (scale, soft cap, a window smaller than the prompts) on the
  // tensor-core kernel (d 64, 128) and the CUDA-core one (d 4)
  for (AttentionShape s : {AttentionShape{8, 2, 128}, AttentionShape{4, 4, 64}, AttentionShape{6, 3, 4},
                           AttentionShape{8, 2, 128, 0.1f, 5.f, 40}, AttentionShape{4, 4, 64, 0.2f, 3.f, 100},
                           AttentionShape{6, 3, 4, 0.5f, 2.f, 9}, AttentionShape{4, 4, 64, 0.f, 0.f, 0, false},
                           AttentionShape{6, 3, 4, 0.f, 0.f, 0, false}}) {
    const std::vector<int32_t> lengths = {37, 300, 1};
    const int B = 3;
    const int64_t cache_len = 310;
    std::vector<int32_t> offsets = {0, 37, 337};
    const int64_t rows = 338;
    auto q = random_bf16(static_cast<size_t>(rows * s.heads * s.d), rng);
    auto k = random_bf16(static_cast<size_t>(B * cache_len * s.groups * s.d), rng);
    auto v = random_bf16(k.size(), rng);
    DeviceVector<bf16> dq(q), dk(k), dv(v), out(static_cast<size_t>(rows * s.heads * s.d));
    std::vector<int32_t> plan = offsets;
    plan.insert(plan.end(), lengths.begin(), lengths.end());
    DeviceVector<int32_t> dplan(plan);
    mb::kernels::attention_prefill(dq.get(), dk.get(), dv.get(), dplan.get(), dplan.get() + B, B, 300,
                                   s.qkv_shape(), cache_len, out.get(), nullptr);
    const auto got = out.host();
    double max_diff = 0;
    for (int b = 0; b < B; ++b)
      for (int r = 0; r < lengths[b]; ++r)
        for (int h = 0; h < s.heads; ++h) {
          const size_t at = static_cast<size_t>(((offsets[b] + r) * s.heads + h) * s.d);
          auto want = attend(&q[at], k, v, b, h / (s.heads / s.groups), s.causal ? r : lengths[b] - 1, s, cache_len);
          for (int i = 0; i < s.d; ++i) max_diff = std::max(max_diff, std::fabs(f(got[at + i]) - want[i]));
        }
    EXPECT_LT(max_diff, 1e-2) << "heads " << s.heads << " groups " << s.groups << " d " << s.d << " window " << s.window
                              << " causal " << s.causal;
  }
}

TEST(CudaKernels, AttentionDecodeMatchesSoftmaxAttentionAcrossSplits) {
  std::mt19937 rng(2);
  const int64_t cache_len = 1100;
  const int splits = mb::kernels::attention_decode_splits(cache_len);
  EXPECT_EQ(splits, 18);
  for (AttentionShape s : {AttentionShape{32, 8, 64}, AttentionShape{16, 2, 128}, AttentionShape{8, 8, 4},
                           AttentionShape{28, 4, 128}, AttentionShape{6, 3, 96}})
    for (bool qk_norm : {false, true})
      EXPECT_LT(decode_attention_error(s, {0, 63, 64, 1099}, cache_len, splits, qk_norm, rng), 1e-2)
          << "heads " << s.heads << " groups " << s.groups << " d " << s.d << " q/k norms " << qk_norm;
}

TEST(CudaKernels, AttentionDecodeWithGemma2ScoreRules) {
  std::mt19937 rng(22);
  const int64_t cache_len = 1100;
  const int splits = mb::kernels::attention_decode_splits(cache_len);
  // windows within one split, across a split boundary, and over many splits (some splits see nothing)
  for (int window : {8, 100, 700})
    EXPECT_LT(decode_attention_error(AttentionShape{8, 2, 64, 0.25f, 5.f, window}, {0, 63, 64, 1099}, cache_len, splits,
                                     false, rng), 1e-2)
        << "window " << window;
  EXPECT_LT(decode_attention_error(AttentionShape{4, 2, 8, 0.25f, 5.f, 8}, {3, 49}, 50, 1, false, rng), 1e-2);
}

TEST(CudaKernels, AttentionDecodeInOneSplit) {
  std::mt19937 rng(12);
  const int64_t cache_len = 50;  // one split: the split kernel writes the output itself
  ASSERT_EQ(mb::kernels::attention_decode_splits(cache_len), 1);
  EXPECT_LT(decode_attention_error(AttentionShape{8, 2, 64}, {3, 49}, cache_len, 1, true, rng), 1e-2);
}

TEST(CudaKernels, GemvMatchesTheProductForAFewRows) {
  std::mt19937 rng(13);
  const int64_t in = 2048;
  for (const int64_t out : {300, 9000}) {  // few rows of W (4 warps sum each element) and many (one warp each)
    auto w = random_bf16(static_cast<size_t>(out * in), rng, 0.05f);
    DeviceVector<bf16> dw(w);
    for (int64_t rows = 1; rows <= mb::kernels::kGemvMaxRows; ++rows) {
      auto x = random_bf16(static_cast<size_t>(rows * in), rng);
      DeviceVector<bf16> dx(x);
      DeviceVector<float> y(static_cast<size_t>(rows * out));
      ASSERT_TRUE(mb::kernels::gemv_applies(rows, in, dx.get(), dw.get()));
      mb::kernels::gemv(dx.get(), rows, in, dw.get(), out, y.get(), nullptr);
      const auto got = y.host();
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t o = 0; o < out; ++o) {
          double want = 0;
          for (int64_t k = 0; k < in; ++k) want += double(f(x[r * in + k])) * f(w[o * in + k]);
          ASSERT_NEAR(got[r * out + o], want, 1e-4 * (1 + std::fabs(want))) << "out " << out << " rows " << rows << " r " << r << " o " << o;
        }
    }
    EXPECT_FALSE(mb::kernels::gemv_applies(mb::kernels::kGemvMaxRows + 1, in, dw.get(), dw.get()));
    EXPECT_FALSE(mb::kernels::gemv_applies(1, 100, dw.get(), dw.get()));
  }
}

TEST(CudaKernels, GemvFoldsInTheNormTheResidualAddSwigluAndArgmax) {
  std::mt19937 rng(14);
  const int64_t in = 2048;
  const float eps = 1e-5f, in_scale = 0.5f;
  for (const int64_t out : {300, 9000}) {
    auto w = random_bf16(static_cast<size_t>(2 * out * in), rng, 0.05f);  // [gate; up] for SwiGLU
    auto norm = random_f32(static_cast<size_t>(in), rng);
    DeviceVector<bf16> dw(w);
    DeviceVector<float> dn(norm);
    for (int64_t rows = 1; rows <= mb::kernels::kGemvMaxRows; ++rows) {
      const std::string what = "out " + std::to_string(out) + " rows " + std::to_string(rows);
      auto residual = random_f32(static_cast<size_t>(rows * in), rng, 3.f);
      DeviceVector<float> dres(residual);
      std::vector<double> xn(residual.size());  // the RMSNorm the kernels fold in
      for (int64_t r = 0; r < rows; ++r) {
        double ss = 0;
        for (int64_t k = 0; k < in; ++k) ss += double(residual[r * in + k]) * residual[r * in + k];
        const double inv = 1 / std::sqrt(ss / in + eps);
        for (int64_t k = 0; k < in; ++k) xn[r * in + k] = norm[k] * (residual[r * in + k] * inv) * in_scale;
      }
      auto normed_dot = [&](int64_t r, int64_t row) {
        double sum = 0;
        for (int64_t k = 0; k < in; ++k) sum += xn[r * in + k] * f(w[row * in + k]);
        return sum;
      };
      const mb::kernels::NormedInput input{dres.get(), dn.get(), eps, in_scale};
      // the norm, with the argmax keys
      DeviceVector<float> y(static_cast<size_t>(rows * out));
      DeviceVector<unsigned long long> keys(std::vector<unsigned long long>(static_cast<size_t>(rows), 0));
      mb::kernels::gemv_rms_norm(input, rows, in, dw.get(), out, y.get(), keys.get(), nullptr);
      const auto got = y.host();
      const auto got_keys = keys.host();
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t o = 0; o < out; ++o) {
          const double want = normed_dot(r, o);
          ASSERT_NEAR(got[r * out + o], want, 1e-4 * (1 + std::fabs(want))) << what << " r " << r << " o " << o;
        }
        const int64_t best = std::max_element(got.begin() + r * out, got.begin() + (r + 1) * out) - (got.begin() + r * out);
        EXPECT_EQ(0xffffffffull - (got_keys[r] & 0xffffffffull), static_cast<unsigned long long>(best)) << what;
      }
      // linear_fc1 with SwiGLU
      DeviceVector<bf16> act(static_cast<size_t>(rows * out));
      mb::kernels::gemv_rms_norm_swiglu(input, rows, in, dw.get(), out, act.get(), nullptr);
      const auto got_act = act.host();
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t o = 0; o < out; ++o) {
          const double g = normed_dot(r, o), u = normed_dot(r, out + o), want = g / (1 + std::exp(-g)) * u;
          ASSERT_NEAR(f(got_act[r * out + o]), want, 1e-2 * std::fabs(want) + 1e-4) << what << " r " << r << " o " << o;
        }
      // the residual add
      auto x = random_bf16(static_cast<size_t>(rows * in), rng);
      auto y0 = random_f32(static_cast<size_t>(rows * out), rng);
      DeviceVector<bf16> dx(x);
      DeviceVector<float> dy(y0);
      mb::kernels::gemv_accumulate(dx.get(), rows, in, dw.get(), out, 0.25f, dy.get(), nullptr);
      const auto got_sum = dy.host();
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t o = 0; o < out; ++o) {
          double dot = 0;
          for (int64_t k = 0; k < in; ++k) dot += double(f(x[r * in + k])) * f(w[o * in + k]);
          const double want = y0[r * out + o] + 0.25 * dot;
          ASSERT_NEAR(got_sum[r * out + o], want, 1e-4 * (1 + std::fabs(want))) << what << " r " << r << " o " << o;
        }
    }
  }
  // a tie for the largest output: the lower index wins, as in argmax_rows
  const int64_t out = 9000;
  auto w = random_bf16(static_cast<size_t>(out * in), rng, 0.05f);
  for (int64_t k = 0; k < in; ++k) w[1000 * in + k] = w[5000 * in + k] = __float2bfloat16(1.f);
  std::vector<float> residual(static_cast<size_t>(in), 1.f), norm(static_cast<size_t>(in), 1.f);
  DeviceVector<bf16> dw(w);
  DeviceVector<float> dres(residual), dn(norm), y(static_cast<size_t>(out));
  DeviceVector<unsigned long long> keys(std::vector<unsigned long long>{0});
  DeviceVector<int32_t> pos(std::vector<int32_t>{0}), token(std::vector<int32_t>{-1});
  mb::kernels::gemv_rms_norm({dres.get(), dn.get(), eps, 1.f}, 1, in, dw.get(), out, y.get(), keys.get(), nullptr);
  mb::kernels::advance_positions(pos.get(), 1, keys.get(), token.get(), nullptr);
  EXPECT_EQ(token.host()[0], 1000);
}

TEST(CudaKernels, AddRmsNormMatchesTheFormula) {
  std::mt19937 rng(3);
  for (int64_t n : {32, 2048, 4000}) {
    const int64_t rows = 3;
    auto x = random_f32(static_cast<size_t>(rows * n), rng), delta = random_f32(x.size(), rng), w = random_f32(static_cast<size_t>(n), rng);
    DeviceVector<float> dx(x), dd(delta), dw(w);
    DeviceVector<bf16> out(x.size());
    mb::kernels::add_rms_norm(dx.get(), dd.get(), 0.5f, dw.get(), rows, n, 1e-5f, 2.f, out.get(), nullptr);
    const auto gx = dx.host();
    const auto go = out.host();
    for (int64_t r = 0; r < rows; ++r) {
      double sum = 0;
      for (int64_t i = 0; i < n; ++i) {
        const double v = x[r * n + i] + 0.5 * delta[r * n + i];
        EXPECT_NEAR(gx[r * n + i], v, 1e-5);
        sum += v * v;
      }
      const double inv = 1 / std::sqrt(sum / n + 1e-5);
      for (int64_t i = 0; i < n; ++i) {
        const double want = w[i] * (x[r * n + i] + 0.5 * delta[r * n + i]) * inv * 2;
        ASSERT_NEAR(f(go[r * n + i]), want, 1e-2 * std::fabs(want) + 1e-3) << "n " << n << " row " << r << " i " << i;
      }
    }
  }
}

// DeepSeek-V3's shapes: 128 nope + 64 rope values of q and k, 128 of v, a 512-wide kv latent; three rows at
// positions far apart; the rotated values scaled as a yarn attention factor of 0.8 scales them.
TEST(CudaKernels, MlaLatentNormAndAssembly) {
  std::mt19937 rng(12);
  const mb::kernels::MlaShape s{4, 128, 64, 128, 512, 0.8f};
  const int64_t rows = 3, d = s.nope + s.rope, compressed_row = s.kv_lora + s.rope;
  const auto q = random_f32(static_cast<size_t>(rows * s.heads * d), rng);
  const auto compressed = random_f32(static_cast<size_t>(rows * compressed_row), rng);
  const auto kv = random_f32(static_cast<size_t>(rows * s.heads * (s.nope + s.v)), rng);
  const auto norm = random_f32(static_cast<size_t>(s.kv_lora), rng);
  const std::vector<int32_t> positions = {0, 7, 4000};
  const auto inv = inverse_frequencies(s.rope);
  DeviceVector<float> dq(q), dc(compressed), dkv(kv), dnorm(norm), dinv(inv);
  DeviceVector<int32_t> dpos(positions);
  DeviceVector<bf16> normed(static_cast<size_t>(rows * s.kv_lora));
  DeviceVector<float> qkv(static_cast<size_t>(rows * s.heads * 3 * d));
  mb::kernels::latent_rms_norm(dc.get(), rows, compressed_row, s.kv_lora, dnorm.get(), 1e-6f, normed.get(), nullptr);
  mb::kernels::mla_assemble(dq.get(), dc.get(), dkv.get(), rows, s, dpos.get(), dinv.get(), qkv.get(), nullptr);
  const auto got_norm = normed.host();
  const auto got = qkv.host();
  // rotate-half order of interleaved pairs: pair i = (x[2i], x[2i + 1]) rotated by position * inv[i]
  auto rotate = [&](const float* x, int64_t pos, int j) {
    const int half = s.rope / 2, i = j % half;
    const double a = x[2 * i], b = x[2 * i + 1], angle = double(pos) * inv[i];
    return 0.8 * (j < half ? a * std::cos(angle) - b * std::sin(angle) : b * std::cos(angle) + a * std::sin(angle));
  };
  for (int64_t r = 0; r < rows; ++r) {
    const float* c = &compressed[static_cast<size_t>(r * compressed_row)];
    double sum = 0;
    for (int i = 0; i < s.kv_lora; ++i) sum += double(c[i]) * c[i];
    const double inv_rms = 1 / std::sqrt(sum / s.kv_lora + 1e-6);
    for (int i = 0; i < s.kv_lora; ++i) {
      const double want = norm[i] * c[i] * inv_rms;
      ASSERT_NEAR(f(got_norm[r * s.kv_lora + i]), want, 1e-2 * std::fabs(want) + 1e-3) << "row " << r << " i " << i;
    }
    for (int h = 0; h < s.heads; ++h) {
      const float* hq = &q[static_cast<size_t>((r * s.heads + h) * d)];
      const float* hkv = &kv[static_cast<size_t>((r * s.heads + h) * (s.nope + s.v))];
      const float* out = &got[static_cast<size_t>((r * s.heads + h) * 3 * d)];
      for (int j = 0; j < d; ++j) {
        const double want_q = j < s.nope ? hq[j] : rotate(hq + s.nope, positions[r], j - s.nope);
        const double want_k = j < s.nope ? hkv[j] : rotate(c + s.kv_lora, positions[r], j - s.nope);
        const double want_v = j < s.v ? hkv[s.nope + j] : 0.0;
        // (sincosf of an angle up to 4000 radians: float rounding of the angle itself)
        ASSERT_NEAR(out[j], want_q, 4e-3) << "row " << r << " head " << h << " q " << j;
        ASSERT_NEAR(out[d + j], want_k, 4e-3) << "row " << r << " head " << h << " k " << j;
        ASSERT_EQ(out[2 * d + j], want_v) << "row " << r << " head " << h << " v " << j;
      }
    }
  }
}

TEST(CudaKernels, AddRmsNormedAndSoftCapMatchTheFormulas) {
  std::mt19937 rng(33);
  for (int64_t n : {32, 2048, 4000}) {
    const int64_t rows = 3;
    auto x = random_f32(static_cast<size_t>(rows * n), rng), delta = random_f32(x.size(), rng, 3.f);
    auto w = random_f32(static_cast<size_t>(n), rng);
    DeviceVector<float> dx(x), dd(delta), dw(w);
    mb::kernels::add_rms_normed(dx.get(), dd.get(), dw.get(), rows, n, 1e-6f, 0.5f, nullptr);
    const auto gx = dx.host();
    for (int64_t r = 0; r < rows; ++r) {
      double sum = 0;
      for (int64_t i = 0; i < n; ++i) sum += double(delta[r * n + i]) * delta[r * n + i];
      const double inv = 1 / std::sqrt(sum / n + 1e-6);
      for (int64_t i = 0; i < n; ++i) {
        const double want = x[r * n + i] + 0.5 * w[i] * delta[r * n + i] * inv;
        ASSERT_NEAR(gx[r * n + i], want, 1e-5 * std::fabs(want) + 1e-5) << "n " << n << " row " << r << " i " << i;
      }
    }
  }
  auto logits = random_f32(100000, rng, 20.f);
  DeviceVector<float> dl(logits);
  mb::kernels::soft_cap(dl.get(), static_cast<int64_t>(logits.size()), 30.f, nullptr);
  const auto capped = dl.host();
  for (size_t i = 0; i < logits.size(); ++i)
    ASSERT_NEAR(capped[i], 30.0 * std::tanh(logits[i] / 30.0), 1e-5) << i;
}

TEST(CudaKernels, RopeQkvWithoutRotaryFrequenciesOnlyAddsTheBias) {  // GPT-2: positions are in the embeddings
  std::mt19937 rng(14);
  const int heads = 2, groups = 2, d = 8;
  const int64_t rows = 2, cache_len = 4, width = (heads + 2 * groups) * d;
  const std::vector<int32_t> seq = {0, 0}, pos = {0, 3};
  auto qkv = random_f32(static_cast<size_t>(rows * width), rng), bias = random_f32(static_cast<size_t>(width), rng);
  DeviceVector<float> dqkv(qkv), dbias(bias);
  DeviceVector<int32_t> dseq(seq), dpos(pos);
  const size_t cache_n = static_cast<size_t>(cache_len * groups * d);
  DeviceVector<bf16> q(static_cast<size_t>(rows * heads * d)), kc(cache_n), vc(cache_n);
  mb::kernels::rope_qkv(dqkv.get(), rows, {heads, groups, d}, dbias.get(), nullptr, nullptr, 1e-6f, nullptr, dseq.get(),
                        dpos.get(), q.get(), kc.get(), vc.get(), cache_len, nullptr);
  const auto gq = q.host(), gk = kc.host();
  for (int64_t r = 0; r < rows; ++r)
    for (int g = 0; g < groups; ++g)
      for (int i = 0; i < d; ++i) {
        const int64_t q_at = r * width + g * 3 * d + i, k_at = q_at + d;
        EXPECT_NEAR(f(gq[static_cast<size_t>((r * heads + g) * d + i)]), qkv[q_at] + bias[q_at - r * width], 1e-2);
        EXPECT_NEAR(f(gk[static_cast<size_t>((pos[r] * groups + g) * d + i)]), qkv[k_at] + bias[k_at - r * width], 1e-2);
      }
}

TEST(CudaKernels, RopeQkvRotatesNormalisesAndFillsTheCache) {
  std::mt19937 rng(4);
  const int heads = 4, groups = 2, d = 64, per_group = heads / groups;
  const int64_t rows = 5, cache_len = 50, width = (heads + 2 * groups) * d;
  const std::vector<int32_t> seq = {0, 0, 1, 1, 1}, pos = {0, 7, 3, 4, 49};
  auto qkv = random_f32(static_cast<size_t>(rows * width), rng), bias = random_f32(static_cast<size_t>(width), rng);
  auto qn = random_f32(d, rng), kn = random_f32(d, rng);
  const auto inv = inverse_frequencies(d);
  DeviceVector<float> dqkv(qkv), dbias(bias), dqn(qn), dkn(kn), dinv(inv);
  DeviceVector<int32_t> dseq(seq), dpos(pos);
  const size_t cache_n = static_cast<size_t>(2 * cache_len * groups * d);
  DeviceVector<bf16> q(static_cast<size_t>(rows * heads * d)), kc(cache_n), vc(cache_n);
  mb::kernels::rope_qkv(dqkv.get(), rows, {heads, groups, d}, dbias.get(), dqn.get(), dkn.get(), 1e-6f, dinv.get(),
                        dseq.get(), dpos.get(), q.get(), kc.get(), vc.get(), cache_len, nullptr);
  const auto gq = q.host(), gk = kc.host(), gv = vc.host();
  for (int64_t r = 0; r < rows; ++r)
    for (int g = 0; g < groups; ++g)
      for (int j = 0; j < per_group + 2; ++j) {
        const int64_t off = r * width + (g * (per_group + 2) + j) * d;
        std::vector<double> h(d);
        for (int i = 0; i < d; ++i) h[i] = qkv[off + i] + bias[off - r * width + i];
        const size_t cache_at = static_cast<size_t>(((seq[r] * cache_len + pos[r]) * groups + g) * d);
        if (j == per_group + 1) {
          for (int i = 0; i < d; ++i) ASSERT_NEAR(f(gv[cache_at + i]), h[i], 1e-2 * std::fabs(h[i]) + 1e-6);
          continue;
        }
        const auto& norm = j < per_group ? qn : kn;
        double ss = 0;
        for (double x : h) ss += x * x;
        const double s = 1 / std::sqrt(ss / d + 1e-6);
        for (int i = 0; i < d; ++i) h[i] = norm[i] * h[i] * s;
        const bf16* got = j < per_group ? &gq[static_cast<size_t>((r * heads + g * per_group + j) * d)] : &gk[cache_at];
        for (int i = 0; i < d / 2; ++i) {
          const double a = pos[r] * double(inv[i]);
          const double x = h[i] * std::cos(a) - h[i + d / 2] * std::sin(a), y = h[i + d / 2] * std::cos(a) + h[i] * std::sin(a);
          ASSERT_NEAR(f(got[i]), x, 1e-2 * std::fabs(x) + 1e-3) << "row " << r << " unit " << j << " i " << i;
          ASSERT_NEAR(f(got[i + d / 2]), y, 1e-2 * std::fabs(y) + 1e-3) << "row " << r << " unit " << j << " i " << i;
        }
      }
}

// Qwen2.5-VL's rotations: rope_qkv given each row's angles (position + offset) * inv_freq rotates exactly as at
// that position, while k and v go to the cache slot of the row's own position; a decode step given a rotary
// offset writes the key rope_qkv rotated at position + offset into the slot of its position.
TEST(CudaKernels, RotaryAnglesAndOffsetsRotateAsThePositionsTheyStandFor) {
  std::mt19937 rng(9);
  const int heads = 4, groups = 2, d = 16;
  const int64_t rows = 3, cache_len = 40, width = (heads + 2 * groups) * d;
  const std::vector<int32_t> seq = {0, 1, 2}, pos = {0, 5, 9}, offset = {3, 0, 17}, moved = {3, 5, 26};
  auto qkv = random_f32(static_cast<size_t>(rows * width), rng), bias = random_f32(static_cast<size_t>(width), rng);
  const auto inv = inverse_frequencies(d);
  std::vector<float> angles(static_cast<size_t>(rows * d / 2));
  for (int64_t r = 0; r < rows; ++r)
    for (int i = 0; i < d / 2; ++i) angles[static_cast<size_t>(r * d / 2 + i)] = static_cast<float>(moved[r]) * inv[i];
  DeviceVector<float> dqkv(qkv), dbias(bias), dinv(inv), dangles(angles);
  DeviceVector<int32_t> dseq(seq), dpos(pos), dmoved(moved), doffset(offset);
  const size_t cache_n = static_cast<size_t>(rows * cache_len * groups * d);
  DeviceVector<bf16> q1(static_cast<size_t>(rows * heads * d)), k1(cache_n), v1(cache_n);
  DeviceVector<bf16> q2(q1.host()), k2(cache_n), v2(cache_n);
  const mb::kernels::QkvShape shape{heads, groups, d};
  // at the moved positions (slots there), and with the angles (slots at the own positions)
  mb::kernels::rope_qkv(dqkv.get(), rows, shape, dbias.get(), nullptr, nullptr, 1e-6f, dinv.get(), dseq.get(), dmoved.get(),
                        q1.get(), k1.get(), v1.get(), cache_len, nullptr);
  mb::kernels::rope_qkv(dqkv.get(), rows, shape, dbias.get(), nullptr, nullptr, 1e-6f, dinv.get(), dseq.get(), dpos.get(),
                        q2.get(), k2.get(), v2.get(), cache_len, nullptr, dangles.get());
  const auto a_q = q1.host(), b_q = q2.host(), a_k = k1.host(), b_k = k2.host();
  for (size_t i = 0; i < a_q.size(); ++i) ASSERT_EQ(f(a_q[i]), f(b_q[i])) << "query element " << i;
  auto slot = [&](int64_t r, int32_t p, int g) { return static_cast<size_t>(((seq[r] * cache_len + p) * groups + g) * d); };
  for (int64_t r = 0; r < rows; ++r)
    for (int g = 0; g < groups; ++g)
      for (int i = 0; i < d; ++i) ASSERT_EQ(f(a_k[slot(r, moved[r], g) + i]), f(b_k[slot(r, pos[r], g) + i])) << r;
  // decode: the new key at pos[r] rotated at pos[r] + offset[r]
  DeviceVector<bf16> k3(cache_n), v3(cache_n), out(static_cast<size_t>(rows * heads * d));
  const int splits = mb::kernels::attention_decode_splits(cache_len);
  const size_t workspace_bytes = mb::kernels::attention_decode_workspace_bytes(rows, shape, splits);
  DeviceVector<unsigned char> work(std::vector<unsigned char>(workspace_bytes, 0));
  mb::kernels::DecodeQkv in{dqkv.get(), dbias.get(), nullptr, nullptr, 1e-6f, dinv.get(), doffset.get()};
  mb::kernels::attention_decode(in, dpos.get(), rows, shape, k3.get(), v3.get(), cache_len, splits, work.get(), out.get(),
                                nullptr);
  const auto c_k = k3.host();
  for (int64_t r = 0; r < rows; ++r)
    for (int g = 0; g < groups; ++g)
      for (int i = 0; i < d; ++i)
        ASSERT_NEAR(f(c_k[slot(r, pos[r], g) + i]), f(b_k[slot(r, pos[r], g) + i]), 1e-2 * std::fabs(f(b_k[slot(r, pos[r], g) + i])) + 1e-3)
            << "decode key, row " << r;
}

TEST(CudaKernels, ArgmaxTakesTheFirstOfEqualMaxima) {
  std::mt19937 rng(5);
  const int64_t V = 128256, rows = 3;
  auto x = random_f32(static_cast<size_t>(rows * V), rng);
  x[V + 5000] = x[V + 1000] = 50.f;      // a tie: 1000 wins
  x[2 * V + V - 1] = 60.f;               // the last id
  DeviceVector<float> dx(x);
  DeviceVector<int32_t> out(rows);
  mb::kernels::argmax_rows(dx.get(), rows, V, V, out.get(), nullptr);
  const auto got = out.host();
  EXPECT_EQ(got[0], std::max_element(x.begin(), x.begin() + V) - x.begin());
  EXPECT_EQ(got[1], 1000);
  EXPECT_EQ(got[2], V - 1);
}

// Sampled tokens: the draws the CPU Sampler makes from the same logits and seeds, for top-k, top-p, both and
// neither, at several temperatures, on random logits and on logits with many equal values (the cuts fall inside
// runs of ties, which go to the lower id first).
namespace {

void expect_cpu_sampler_draws(int64_t V, int draws) {
  struct Case {
    double temperature;
    int64_t top_k;
    double top_p;
  };
  const Case cases[] = {{1.0, 0, 1.0}, {0.7, 50, 1.0}, {1.0, 0, 0.9}, {0.8, 40, 0.95}, {1.3, 1, 1.0}, {2.0, 3000, 0.5}};
  std::mt19937 rng(11);
  for (const bool ties : {false, true}) {
    const int64_t rows = 3;
    auto x = random_f32(static_cast<size_t>(rows * V), rng, 3.f);
    if (ties)
      for (float& v : x) v = std::round(v * 2) / 2;
    DeviceVector<float> dx(x);
    for (const Case& c : cases) {
      const mb::kernels::SamplingParams params{c.temperature, c.top_k, c.top_p};
      std::vector<unsigned long long> seeds;
      std::vector<mb::engine::Sampler> samplers;
      for (int64_t r = 0; r < rows; ++r) {
        seeds.push_back(1000 + r);
        samplers.emplace_back(mb::engine::SamplingOptions{c.temperature, c.top_k, c.top_p, seeds.back()});
      }
      DeviceVector<unsigned long long> states(seeds);
      DeviceVector<int32_t> out(rows);
      for (int d = 0; d < draws; ++d) {
        mb::kernels::sample_rows(dx.get(), rows, V, V, params, states.get(), out.get(), nullptr);
        const auto got = out.host();
        for (int64_t r = 0; r < rows; ++r)
          ASSERT_EQ(got[r], samplers[r].pick(&x[static_cast<size_t>(r * V)], V))
              << "vocab " << V << (ties ? " with ties" : "") << ", temperature " << c.temperature << " top_k "
              << c.top_k << " top_p " << c.top_p << ", row " << r << ", draw " << d;
      }
    }
  }
}

}  // namespace

TEST(CudaKernels, SamplingDrawsWhatTheCpuSamplerDraws) { expect_cpu_sampler_draws(1000, 40); }

TEST(CudaKernels, SamplingDrawsWhatTheCpuSamplerDrawsFromARealVocabularySize) { expect_cpu_sampler_draws(128256, 12); }

TEST(CudaKernels, MoeRouteAndCombine) {
  std::mt19937 rng(6);
  const int64_t rows = 7, H = 48;
  const int E = 8, k = 2;
  auto logits = random_f32(static_cast<size_t>(rows * E), rng);
  logits[3 * E + 2] = logits[3 * E + 6] = 9.f;  // a tie between experts 2 and 6: 2 first
  for (bool renorm : {true, false}) {
    DeviceVector<float> dl(logits), w(static_cast<size_t>(rows * k));
    DeviceVector<int32_t> idx(static_cast<size_t>(rows * k));
    mb::kernels::moe_route(dl.get(), rows, E, k, renorm, idx.get(), w.get(), nullptr);
    const auto gi = idx.host();
    const auto gw = w.host();
    for (int64_t r = 0; r < rows; ++r) {
      std::vector<double> p(E);
      double m = *std::max_element(&logits[r * E], &logits[r * E] + E), sum = 0;
      for (int e = 0; e < E; ++e) sum += (p[e] = std::exp(logits[r * E + e] - m));
      std::vector<int> order(E);
      for (int e = 0; e < E; ++e) order[e] = e, p[e] /= sum;
      std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
      const double chosen = p[order[0]] + p[order[1]];
      for (int j = 0; j < k; ++j) {
        EXPECT_EQ(gi[r * k + j], order[j]) << "row " << r;
        EXPECT_NEAR(gw[r * k + j], renorm ? p[order[j]] / chosen : p[order[j]], 1e-6);
      }
    }
    EXPECT_EQ(gi[3 * k], 2);
    EXPECT_EQ(gi[3 * k + 1], 6);
  }
  // combine: out[r] += 0.5 * sum_j w * expert_out[slot_rows]
  auto expert_out = random_f32(static_cast<size_t>(rows * k * H), rng), weights = random_f32(static_cast<size_t>(rows * k), rng);
  std::vector<int32_t> slots(static_cast<size_t>(rows * k));
  for (size_t i = 0; i < slots.size(); ++i) slots[i] = static_cast<int32_t>((i * 5) % slots.size());
  auto residual = random_f32(static_cast<size_t>(rows * H), rng);
  DeviceVector<float> de(expert_out), dw(weights), out(residual);
  DeviceVector<int32_t> ds(slots);
  mb::kernels::moe_combine(de.get(), ds.get(), dw.get(), rows, k, H, 0.5f, out.get(), nullptr);
  const auto got = out.host();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < H; ++i) {
      double want = 0;
      for (int j = 0; j < k; ++j) want += weights[r * k + j] * expert_out[slots[r * k + j] * H + i];
      ASSERT_NEAR(got[r * H + i], residual[r * H + i] + 0.5 * want, 1e-5);
    }
}

TEST(CudaKernels, EmbeddingGatherAndSwiglu) {
  std::mt19937 rng(7);
  const int64_t V = 100, H = 300, F = 260;
  auto table = random_bf16(static_cast<size_t>(V * H), rng);
  const std::vector<int32_t> ids = {5, 99, 0, 5};
  DeviceVector<bf16> dt(table);
  DeviceVector<int32_t> di(ids);
  DeviceVector<float> emb(ids.size() * H);
  mb::kernels::embedding(di.get(), 4, dt.get(), H, 12.f, emb.get(), nullptr);
  DeviceVector<bf16> gathered(ids.size() * H);
  mb::kernels::gather_rows(dt.get(), di.get(), 4, H, gathered.get(), nullptr);
  const auto ge = emb.host();
  const auto gg = gathered.host();
  for (size_t r = 0; r < ids.size(); ++r)
    for (int64_t i = 0; i < H; ++i) {
      ASSERT_EQ(ge[r * H + i], f(table[ids[r] * H + i]) * 12.f);
      ASSERT_EQ(f(gg[r * H + i]), f(table[ids[r] * H + i]));
    }
  auto gu = random_f32(static_cast<size_t>(3 * 2 * F), rng);
  DeviceVector<float> dgu(gu);
  DeviceVector<bf16> act(static_cast<size_t>(3 * F));
  mb::kernels::swiglu(dgu.get(), 3, F, act.get(), nullptr);
  const auto ga = act.host();
  for (int64_t r = 0; r < 3; ++r)
    for (int64_t i = 0; i < F; ++i) {
      const double g = gu[r * 2 * F + i], u = gu[r * 2 * F + F + i], want = g / (1 + std::exp(-g)) * u;
      ASSERT_NEAR(f(ga[r * F + i]), want, 1e-2 * std::fabs(want) + 1e-6);
    }
}

TEST(CudaKernels, Gpt2PiecesPositionsBiasesPlainGeluLayerNorm) {
  std::mt19937 rng(17);
  const int64_t V = 50, H = 96, P = 40, F = 200;
  auto table = random_bf16(static_cast<size_t>(V * H), rng), positions = random_bf16(static_cast<size_t>(P * H), rng);
  const std::vector<int32_t> ids = {3, 49, 0}, pos = {0, 39, 7};
  DeviceVector<bf16> dt(table), dp(positions);
  DeviceVector<int32_t> di(ids), dpos(pos);
  DeviceVector<float> emb(ids.size() * H);
  mb::kernels::embedding(di.get(), 3, dt.get(), H, 1.f, emb.get(), nullptr, dp.get(), dpos.get());
  const auto ge = emb.host();
  for (size_t r = 0; r < ids.size(); ++r)
    for (int64_t i = 0; i < H; ++i)
      ASSERT_EQ(ge[r * H + i], f(table[ids[r] * H + i]) + f(positions[pos[r] * H + i])) << r << " " << i;

  auto y = random_f32(static_cast<size_t>(3 * F), rng), bias = random_f32(static_cast<size_t>(F), rng);
  DeviceVector<float> dy(y), db(bias);
  mb::kernels::add_bias(dy.get(), 3, F, db.get(), nullptr);
  const auto gy = dy.host();
  for (int64_t e = 0; e < 3 * F; ++e) ASSERT_EQ(gy[e], y[e] + bias[e % F]) << e;

  // a plain MLP's activation: rows F wide, no up half; the exact and the tanh GELU
  for (auto act : {mb::kernels::GateActivation::kGelu, mb::kernels::GateActivation::kGeluTanh}) {
    DeviceVector<bf16> out(static_cast<size_t>(3 * F));
    mb::kernels::swiglu(dy.get(), 3, F, out.get(), nullptr, act, false);
    const auto go = out.host();
    for (int64_t e = 0; e < 3 * F; ++e) {
      const double g = gy[e];
      const double want = act == mb::kernels::GateActivation::kGelu
                              ? 0.5 * g * (1 + std::erf(g / std::sqrt(2.0)))
                              : 0.5 * g * (1 + std::tanh(std::sqrt(2 / M_PI) * (g + 0.044715 * g * g * g)));
      ASSERT_NEAR(f(go[e]), want, 1e-2 * std::fabs(want) + 1e-6) << e;
    }
  }

  // LayerNorm: the residual add, then (x - mean) / sqrt(var + eps) * w + b, times the output scale
  for (int64_t n : {32, 2048, 3000}) {
    auto x = random_f32(static_cast<size_t>(2 * n), rng, 2.f), delta = random_f32(x.size(), rng);
    auto w = random_f32(static_cast<size_t>(n), rng), b = random_f32(static_cast<size_t>(n), rng);
    for (float& v : x) v += 3.f;  // a mean far from zero, which RMSNorm would not remove
    DeviceVector<float> dx(x), dd(delta), dw(w), dbias(b);
    DeviceVector<bf16> out(x.size());
    mb::kernels::add_rms_norm(dx.get(), dd.get(), 1.f, dw.get(), 2, n, 1e-5f, 0.5f, out.get(), nullptr, dbias.get());
    const auto go = out.host();
    for (int64_t r = 0; r < 2; ++r) {
      double mean = 0, var = 0;
      for (int64_t i = 0; i < n; ++i) mean += x[r * n + i] + delta[r * n + i];
      mean /= n;
      for (int64_t i = 0; i < n; ++i) var += std::pow(x[r * n + i] + delta[r * n + i] - mean, 2);
      const double inv = 1 / std::sqrt(var / n + 1e-5);
      for (int64_t i = 0; i < n; ++i) {
        const double want = (w[i] * (x[r * n + i] + delta[r * n + i] - mean) * inv + b[i]) * 0.5;
        ASSERT_NEAR(f(go[r * n + i]), want, 1e-2 * std::fabs(want) + 1e-3) << "n " << n << " row " << r << " i " << i;
      }
    }
  }
}

TEST(CudaKernels, AdvancePositionsAndTakeTheArgmaxKeys) {
  DeviceVector<int32_t> p(std::vector<int32_t>{0, 9, 41});
  mb::kernels::advance_positions(p.get(), 3, nullptr, nullptr, nullptr);
  EXPECT_EQ(p.host(), (std::vector<int32_t>{1, 10, 42}));
  // keys as gemv_rms_norm leaves them: (ordered value << 32) | (0xffffffff - index)
  DeviceVector<unsigned long long> keys(std::vector<unsigned long long>{0x80000000ull << 32 | (0xffffffffull - 7),
                                                                        0x12345678ull << 32 | (0xffffffffull - 128255),
                                                                        0xfff00000ull << 32 | (0xffffffffull - 0)});
  DeviceVector<int32_t> tokens(std::vector<int32_t>{-1, -1, -1});
  mb::kernels::advance_positions(p.get(), 3, keys.get(), tokens.get(), nullptr);
  EXPECT_EQ(p.host(), (std::vector<int32_t>{2, 11, 43}));
  EXPECT_EQ(tokens.host(), (std::vector<int32_t>{7, 128255, 0}));
  EXPECT_EQ(keys.host(), (std::vector<unsigned long long>{0, 0, 0}));
}
