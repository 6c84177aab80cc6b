// LLaVA on the CPU reference against transformers (tests/fixtures/families/hf/llava*.safetensors, made by
// generate_family_fixtures.py on the GPU machine: a prompt with one image's 16 placeholder tokens and its
// pixel values): float32 logits, and 32 greedy tokens for two prompts with their own images, loaded from the
// Hugging Face folder and from a TP2 x PP2 Megatron checkpoint (so through the carried tensors too); and image
// files prepared as transformers' CLIPImageProcessor prepares them (llava.pixels.safetensors, from
// generate_vlm_fixtures.py --llava).
#include <algorithm>
#include <cmath>

#include "bridge/param_source.h"
#include "core/error.h"
#include "engine/cpu/cpu_model.h"
#include "engine/image_processor.h"
#include "io/safetensors.h"
#include "support/greedy_reference.h"
#include "support/image_fixtures.h"
#include "support/test_support.h"

using namespace mb;

namespace {

std::string fixture_dir() { return mbtest::fixture("families/hf/llava"); }

// The Hugging Face folder, and the same model imported at TP2 x PP2 (read back without --hf-model: the
// stored config and the carried tensors only)
std::vector<std::pair<std::string, std::unique_ptr<bridge::ParamSource>>> sources() {
  return mbtest::hf_and_megatron_sources(fixture_dir(), "engine_llava");
}

}  // namespace

TEST(EngineLlava, LogitsOfAnImagePromptEqualTransformers) {
  auto ref = SafetensorsFile::open(fixture_dir() + ".logits.safetensors");
  const std::vector<int32_t> ids = mbtest::ids_of(ref->tensor("input_ids"));
  ASSERT_EQ(std::count(ids.begin(), ids.end(), 255), 16);
  const std::vector<float> want = mbtest::floats_of(ref->tensor("logits"));
  for (auto& [what, source] : sources()) {
    engine::CpuModel model(*source);
    const std::vector<float> got = model.forward(ids, {mbtest::llava_image_of(ref->tensor("pixel_values"))});
    ASSERT_EQ(got.size(), want.size()) << what;
    const double diff = mbtest::relative_max_diff(got.data(), want.data(), want.size());
    std::printf("llava (%s): logits max |diff| / max |logit| = %.2e\n", what.c_str(), diff);
    EXPECT_LE(diff, 2e-4) << what;
    // the image matters: without its features (the placeholder's embedding in their place) the logits move
    std::vector<int32_t> text_only = ids;
    std::replace(text_only.begin(), text_only.end(), 255, 254);
    const std::vector<float> other = model.forward(text_only);
    EXPECT_GT(mbtest::relative_max_diff(other.data(), want.data(), want.size()), 100 * diff) << what;
  }
}

TEST(EngineLlava, GreedyTokensEqualTransformers) {
  auto ref = SafetensorsFile::open(fixture_dir() + ".greedy.safetensors");
  for (auto& [what, source] : sources()) {
    engine::CpuModel model(*source);
    std::vector<std::vector<int32_t>> prompts, want;
    engine::GenerateOptions o;
    o.max_new_tokens = 32;
    for (int i = 0; i < 2; ++i) {
      prompts.push_back(mbtest::ids_of(ref->tensor(cat("prompt_", i))));
      want.push_back(mbtest::ids_of(ref->tensor(cat("greedy_", i))));
      o.images.push_back({mbtest::llava_image_of(ref->tensor(cat("pixel_values_", i)))});
      // the logits of the prompt and the tokens chosen after it
      std::vector<int32_t> seq = prompts.back();
      seq.insert(seq.end(), want.back().begin(), want.back().end() - 1);
      const std::vector<float> logits = model.forward(seq, o.images.back());
      const std::vector<float> expected = mbtest::floats_of(ref->tensor(cat("logits_", i)));
      ASSERT_EQ(logits.size(), expected.size());
      EXPECT_LE(mbtest::relative_max_diff(logits.data(), expected.data(), expected.size()), 2e-4) << what << " " << i;
    }
    const auto got = model.generate(prompts, o, {});
    for (int i = 0; i < 2; ++i) EXPECT_EQ(got[static_cast<size_t>(i)], want[static_cast<size_t>(i)]) << what << " prompt " << i;
  }
}

TEST(EngineLlava, ImagesMustMatchTheirTokens) {
  auto source = bridge::open_hf_source(fixture_dir());
  engine::CpuModel model(*source);
  auto ref = SafetensorsFile::open(fixture_dir() + ".logits.safetensors");
  const std::vector<int32_t> ids = mbtest::ids_of(ref->tensor("input_ids"));
  const engine::Image image = mbtest::llava_image_of(ref->tensor("pixel_values"));
  auto status_of = [&](const std::vector<int32_t>& p, const std::vector<engine::Image>& images) {
    return mbtest::status_of([&] { model.forward(p, images); });
  };
  EXPECT_EQ(status_of(ids, {}), Status::kInvalidArgument);              // 16 image tokens, no image
  EXPECT_EQ(status_of(ids, {image, image}), Status::kInvalidArgument);  // two images, one image's tokens
  engine::Image small = image;
  small.height = small.width = 16;
  small.pixels.resize(3 * 16 * 16);
  EXPECT_EQ(status_of(ids, {small}), Status::kInvalidArgument);  // the tower takes 32 x 32
  EXPECT_EQ(status_of({1, 2, 3}, {}), Status::kOk);              // text only
}

// The image files (tests/fixtures/vlm/images) prepared by mbridge as CLIPImageProcessor prepares them
// (generate_vlm_fixtures.py --llava: its preprocessor_config.json in the fixture folder): pixel values equal to
// transformers' to float32 rounding, and the greedy tokens transformers chose from those pixels, for one prompt
// (its 16 image tokens cut to one, as a chat template writes it) with each of the three images.
TEST(EngineLlava, ImageFilesPreparedAsClipImageProcessorGiveTransformersTokens) {
  auto ref = SafetensorsFile::open(mbtest::fixture("families/hf/llava.pixels.safetensors"));
  auto source = bridge::open_hf_source(fixture_dir());
  engine::CpuModel model(*source);
  const engine::ImageProcessor processor(model.config(), fixture_dir());
  ASSERT_NE(processor.source(), "defaults");
  const std::vector<int32_t> prompt = mbtest::ids_of(ref->tensor("prompt"));
  std::vector<int32_t> one_token;
  for (int32_t id : prompt)
    if (id != processor.placeholder() || one_token.empty() || one_token.back() != processor.placeholder())
      one_token.push_back(id);
  for (const char* name : {"wide", "tall", "square"}) {
    const std::string file = mbtest::fixture(std::string("vlm/images/") + name + (std::string(name) == "square" ? ".jpg" : ".png"));
    const engine::Image image = processor.load(file);
    const std::vector<float> want = mbtest::floats_of(ref->tensor(std::string("pixel_values_") + name));
    ASSERT_EQ(image.pixels.size(), want.size()) << name;
    double worst = 0;
    for (size_t i = 0; i < want.size(); ++i) worst = std::max(worst, double(std::fabs(image.pixels[i] - want[i])));
    EXPECT_LE(worst, 1e-5) << name;
    engine::GenerateOptions o;
    o.max_new_tokens = 16;
    o.images = {{image}};
    EXPECT_EQ(model.generate({processor.expand(one_token, {image})}, o, {})[0],
              mbtest::ids_of(ref->tensor(std::string("greedy_") + name)))
        << name;
  }
}
