// Each kernel of kernels/ against a plain CPU computation of the same operation on the same (bf16-rounded)
// inputs, at the shapes real models have (head dims 64 and 128, grouped queries, contexts longer than one
// decode split). GPU machine only: tests/gpu/run_gpu_tests.sh (also under compute-sanitizer).
#include <cuda_bf16.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "gpu/device_vector.h"
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

// Softmax attention of one query over keys 0..last of one (sequence, group) in the cache, in double.
std::vector<double> attend(const bf16* q, const std::vector<bf16>& k, const std::vector<bf16>& v, int64_t b, int g,
                           int64_t last, int groups, int d, int64_t cache_len) {
  std::vector<double> scores(static_cast<size_t>(last + 1));
  for (int64_t s = 0; s <= last; ++s) {
    const size_t at = static_cast<size_t>(((b * cache_len + s) * groups + g) * d);
    double dot = 0;
    for (int i = 0; i < d; ++i) dot += double(f(q[i])) * f(k[at + i]);
    scores[static_cast<size_t>(s)] = dot / std::sqrt(double(d));
  }
  const double m = *std::max_element(scores.begin(), scores.end());
  double sum = 0;
  for (double& s : scores) sum += (s = std::exp(s - m));
  std::vector<double> out(static_cast<size_t>(d), 0.0);
  for (int64_t s = 0; s <= last; ++s) {
    const size_t at = static_cast<size_t>(((b * cache_len + s) * groups + g) * d);
    for (int i = 0; i < d; ++i) out[static_cast<size_t>(i)] += scores[static_cast<size_t>(s)] / sum * f(v[at + i]);
  }
  return out;
}

struct AttentionShape {
  int heads, groups, d;
};

// Decode attention of one new token per sequence (at `positions`) over random caches of `cache_len`, in
// `splits` splits: the largest difference from attend().
double decode_attention_error(AttentionShape s, const std::vector<int32_t>& positions, int64_t cache_len, int splits,
                              std::mt19937& rng) {
  const int B = static_cast<int>(positions.size());
  auto q = random_bf16(static_cast<size_t>(B * s.heads * s.d), rng);
  auto k = random_bf16(static_cast<size_t>(B * cache_len * s.groups * s.d), rng);
  auto v = random_bf16(k.size(), rng);
  DeviceVector<bf16> dq(q), dk(k), dv(v), out(q.size());
  DeviceVector<int32_t> dpos(positions);
  const mb::kernels::QkvShape shape{s.heads, s.groups, s.d};
  DeviceVector<float> work(mb::kernels::attention_decode_workspace_floats(B, shape, splits));
  mb::kernels::attention_decode(dq.get(), dk.get(), dv.get(), dpos.get(), B, shape, cache_len, splits, work.get(),
                                out.get(), nullptr);
  const auto got = out.host();
  double max_diff = 0;
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < s.heads; ++h) {
      const size_t at = static_cast<size_t>((b * s.heads + h) * s.d);
      auto want = attend(&q[at], k, v, b, h / (s.heads / s.groups), positions[b], s.groups, s.d, cache_len);
      for (int i = 0; i < s.d; ++i) max_diff = std::max(max_diff, std::fabs(f(got[at + i]) - want[i]));
    }
  return max_diff;
}

}  // namespace

TEST(CudaKernels, AttentionPrefillMatchesSoftmaxAttention) {
  std::mt19937 rng(1);
  for (AttentionShape s : {AttentionShape{8, 2, 128}, AttentionShape{4, 4, 64}, AttentionShape{6, 3, 4}}) {
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
                                   {s.heads, s.groups, s.d}, cache_len, out.get(), nullptr);
    const auto got = out.host();
    double max_diff = 0;
    for (int b = 0; b < B; ++b)
      for (int r = 0; r < lengths[b]; ++r)
        for (int h = 0; h < s.heads; ++h) {
          const size_t at = static_cast<size_t>(((offsets[b] + r) * s.heads + h) * s.d);
          auto want = attend(&q[at], k, v, b, h / (s.heads / s.groups), r, s.groups, s.d, cache_len);
          for (int i = 0; i < s.d; ++i) max_diff = std::max(max_diff, std::fabs(f(got[at + i]) - want[i]));
        }
    EXPECT_LT(max_diff, 1e-2) << "heads " << s.heads << " groups " << s.groups << " d " << s.d;
  }
}

TEST(CudaKernels, AttentionDecodeMatchesSoftmaxAttentionAcrossSplits) {
  std::mt19937 rng(2);
  const int64_t cache_len = 1100;
  const int splits = mb::kernels::attention_decode_splits(cache_len);
  EXPECT_EQ(splits, 5);
  for (AttentionShape s : {AttentionShape{32, 8, 64}, AttentionShape{16, 2, 128}, AttentionShape{8, 8, 4}})
    EXPECT_LT(decode_attention_error(s, {0, 255, 256, 1099}, cache_len, splits, rng), 1e-2)
        << "heads " << s.heads << " groups " << s.groups << " d " << s.d;
}

TEST(CudaKernels, AttentionDecodeInOneSplit) {
  std::mt19937 rng(12);
  const int64_t cache_len = 200;  // one split: the split kernel writes the output itself
  ASSERT_EQ(mb::kernels::attention_decode_splits(cache_len), 1);
  EXPECT_LT(decode_attention_error(AttentionShape{8, 2, 64}, {3, 199}, cache_len, 1, rng), 1e-2);
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

TEST(CudaKernels, RopeQkvRotatesNormalisesAndFillsTheCache) {
  std::mt19937 rng(4);
  const int heads = 4, groups = 2, d = 64, per_group = heads / groups;
  const int64_t rows = 5, cache_len = 50, width = (heads + 2 * groups) * d;
  const std::vector<int32_t> seq = {0, 0, 1, 1, 1}, pos = {0, 7, 3, 4, 49};
  auto qkv = random_f32(static_cast<size_t>(rows * width), rng), bias = random_f32(static_cast<size_t>(width), rng);
  auto qn = random_f32(d, rng), kn = random_f32(d, rng);
  std::vector<float> inv(d / 2);
  for (int i = 0; i < d / 2; ++i) inv[i] = static_cast<float>(1.0 / std::pow(10000.0, 2.0 * i / d));
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
  // combine: out[r] = sum_j w * expert_out[slot_rows]
  auto expert_out = random_f32(static_cast<size_t>(rows * k * H), rng), weights = random_f32(static_cast<size_t>(rows * k), rng);
  std::vector<int32_t> slots(static_cast<size_t>(rows * k));
  for (size_t i = 0; i < slots.size(); ++i) slots[i] = static_cast<int32_t>((i * 5) % slots.size());
  DeviceVector<float> de(expert_out), dw(weights), out(static_cast<size_t>(rows * H));
  DeviceVector<int32_t> ds(slots);
  mb::kernels::moe_combine(de.get(), ds.get(), dw.get(), rows, k, H, out.get(), nullptr);
  const auto got = out.host();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < H; ++i) {
      double want = 0;
      for (int j = 0; j < k; ++j) want += weights[r * k + j] * expert_out[slots[r * k + j] * H + i];
      ASSERT_NEAR(got[r * H + i], want, 1e-5);
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

TEST(CudaKernels, AdvancePositions) {
  DeviceVector<int32_t> p(std::vector<int32_t>{0, 9, 41});
  mb::kernels::advance_positions(p.get(), 3, nullptr);
  EXPECT_EQ(p.host(), (std::vector<int32_t>{1, 10, 42}));
}
