// Rotary embedding parameters against the values transformers computed for the same config: yarn's inverse
// frequencies, its attention factor on the rotated values and DeepSeek's softmax scale, read from the
// fixture's report (tests/fixtures/generate_family_fixtures.py, deepseek_yarn), and the refusal of yarn where
// no family here has a reference for it.
#include <gtest/gtest.h>

#include <cmath>

#include "bridge/model_config.h"
#include "bridge/registry.h"
#include "core/error.h"
#include "engine/rope.h"
#include "io/hf_config.h"
#include "io/json.h"
#include "support/test_support.h"

using namespace mb;

TEST(EngineRope, YarnEqualsTransformers) {
  const json::Value report = json::parse(mbtest::read_file(mbtest::fixture("bridge/hf/deepseek_yarn.report.json")),
                                         "deepseek_yarn.report.json");
  const json::Value& note = *report.find("families")->find("deepseek_yarn");
  const bridge::ModelConfig c =
      bridge::model_config_from_hf(load_hf_config(mbtest::fixture("bridge/hf/deepseek_yarn/config.json")));
  ASSERT_EQ(c.rope_scaling.type, "yarn");

  const std::vector<float> inv = engine::rotary_inverse_frequencies(c, "deepseek_yarn");
  const auto& want = note.find("rotary_inv_freq")->items();
  ASSERT_EQ(inv.size(), want.size());
  int interpolated = 0, blended = 0;  // the fixture reaches every part of the ramp
  for (size_t i = 0; i < inv.size(); ++i) {
    EXPECT_NEAR(inv[i], want[i].as_number(), 2e-7 * want[i].as_number()) << "frequency " << i;
    const double plain = 1.0 / std::pow(c.rotary_base, 2.0 * static_cast<double>(i) / static_cast<double>(inv.size() * 2));
    const double ratio = inv[i] / plain;
    interpolated += std::fabs(ratio - 0.25) < 1e-6;
    blended += ratio > 0.25 + 1e-6 && ratio < 1 - 1e-6;
  }
  EXPECT_GT(interpolated, 0);
  EXPECT_GT(blended, 0);

  const double factor = engine::rotary_attention_factor(c);
  EXPECT_NEAR(factor, note.find("rotary_attention_scaling")->as_number(), 1e-6);
  EXPECT_GT(std::fabs(factor - 1), 1e-3);  // not 1: mscale and mscale_all_dim differ
  EXPECT_NEAR(c.attention_scale(), note.find("softmax_scale")->as_number(), 1e-7);
  EXPECT_GT(c.attention_scale(), 1.001 / std::sqrt(static_cast<double>(c.q_head_dim())));
}

TEST(EngineRope, YarnOutsideMultiLatentAttentionIsRefused) {
  bridge::ModelConfig c = bridge::model_config_from_hf(load_hf_config(mbtest::fixture("bridge/hf/qwen2/config.json")));
  c.rope_scaling.type = "yarn";
  c.rope_scaling.factor = 4.0;
  try {
    engine::rotary_inverse_frequencies(c, "qwen2 with yarn");
    ADD_FAILURE() << "yarn accepted for qwen2";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("multi-latent"), std::string::npos) << e.what();
  }
}
