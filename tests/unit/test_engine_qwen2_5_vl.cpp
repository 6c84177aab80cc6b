// Qwen2.5-VL on the CPU reference against transformers (tests/fixtures/vlm, made by generate_vlm_fixtures.py on
// the GPU machine): the multimodal rotary positions transformers' get_rope_index derives; float32 logits of
// image prompts (the vision tower, its windows and merger, the features in place of the image tokens) at those
// three-axis positions (the fixture's forward passes were given mm_token_type_ids; at 0, 1, 2, ... on every axis
// its logits would move by 1.6e-3 of 0.40, twenty times the tolerance); 16 greedy tokens for three image prompts
// (images of three sizes, their windows cut differently) and a text-only one, loaded from the Hugging Face folder
// and from a TP2 x PP2 Megatron checkpoint; and the same tokens when mbridge itself decodes and preprocesses the
// image files.
#include <algorithm>

#include "bridge/param_source.h"
#include "core/error.h"
#include "core/paths.h"
#include "engine/cpu/cpu_model.h"
#include "engine/qwen2_vl_image.h"
#include "io/image_file.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "support/greedy_reference.h"
#include "support/image_fixtures.h"
#include "support/test_support.h"

using namespace mb;

namespace {

std::string vlm(const std::string& relative) { return mbtest::fixture("vlm/" + relative); }

// The image a greedy case names (stored as the name's bytes), from the processor's pixel values
std::string image_name(const SafetensorsFile& ref, int i) {
  if (!ref.find(cat("image_", i))) return "";
  const Tensor t = ref.tensor(cat("image_", i)).contiguous();
  return std::string(t.data_as<char>(), static_cast<size_t>(t.numel()));
}

std::vector<std::pair<std::string, std::unique_ptr<bridge::ParamSource>>> sources() {
  return mbtest::hf_and_megatron_sources(vlm("qwen2_5_vl"), "engine_qwen2_5_vl");
}

}  // namespace

TEST(EngineQwen25Vl, PositionsAndLogitsOfAnImagePromptEqualTransformers) {
  auto ref = SafetensorsFile::open(vlm("qwen2_5_vl.logits.safetensors"));
  const std::vector<int32_t> ids = mbtest::ids_of(ref->tensor("input_ids"));
  const engine::Image image = mbtest::qwen_image_of(ref->tensor("pixel_values"), ref->tensor("image_grid_thw"));
  const std::vector<float> want = mbtest::floats_of(ref->tensor("logits"));
  for (auto& [what, source] : sources()) {
    engine::CpuModel model(*source);
    int64_t delta = 0;
    const std::vector<engine::Image> images = {image};
    const auto positions = model.mrope_positions(ids, &images, 0, &delta);
    const std::vector<int32_t> expected = mbtest::ids_of(ref->tensor("position_ids"));  // [3, 1, T]
    ASSERT_EQ(expected.size(), 3 * ids.size());
    for (size_t t = 0; t < ids.size(); ++t)
      for (size_t axis = 0; axis < 3; ++axis)
        EXPECT_EQ(positions[t][axis], expected[axis * ids.size() + t]) << what << " position " << t << " axis " << axis;
    const std::vector<float> got = model.forward(ids, images);
    ASSERT_EQ(got.size(), want.size()) << what;
    const double diff = mbtest::relative_max_diff(got.data(), want.data(), want.size());
    std::printf("qwen2_5_vl (%s): logits max |diff| / max |logit| = %.2e\n", what.c_str(), diff);
    EXPECT_LE(diff, 2e-4) << what;
  }
}

TEST(EngineQwen25Vl, GreedyTokensEqualTransformers) {
  auto ref = SafetensorsFile::open(vlm("qwen2_5_vl.greedy.safetensors"));
  auto pixels = SafetensorsFile::open(vlm("qwen2_5_vl.pixels.safetensors"));
  for (auto& [what, source] : sources()) {
    engine::CpuModel model(*source);
    std::vector<std::vector<int32_t>> prompts, want;
    engine::GenerateOptions o;
    o.max_new_tokens = 16;
    int images = 0;
    for (int i = 0; ref->find(cat("prompt_", i)); ++i) {
      prompts.push_back(mbtest::ids_of(ref->tensor(cat("prompt_", i))));
      want.push_back(mbtest::ids_of(ref->tensor(cat("greedy_", i))));
      const std::string name = image_name(*ref, i);
      o.images.push_back({});
      if (!name.empty()) {
        o.images.back().push_back(mbtest::qwen_image_of(pixels->tensor("pixel_values_" + name), pixels->tensor("grid_thw_" + name)));
        ++images;
      }
      std::vector<int32_t> seq = prompts.back();
      seq.insert(seq.end(), want.back().begin(), want.back().end() - 1);
      const std::vector<float> logits = model.forward(seq, o.images.back());
      const std::vector<float> expected = mbtest::floats_of(ref->tensor(cat("logits_", i)));
      ASSERT_EQ(logits.size(), expected.size());
      EXPECT_LE(mbtest::relative_max_diff(logits.data(), expected.data(), expected.size()), 2e-4) << what << " " << i;
    }
    ASSERT_EQ(prompts.size(), 4u);
    ASSERT_EQ(images, 3);
    const auto got = model.generate(prompts, o, {});
    for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(got[i], want[i]) << what << " prompt " << i;
  }
}

TEST(EngineQwen25Vl, GreedyTokensFromTheImageFiles) {
  // mbridge decodes and preprocesses the files itself; the tokens are transformers'
  auto ref = SafetensorsFile::open(vlm("qwen2_5_vl.greedy.safetensors"));
  const std::string settings_path = vlm("qwen2_5_vl/preprocessor_config.json");
  const engine::VisionPreprocessing settings =
      engine::vision_preprocessing_from(json::parse(mbtest::read_file(settings_path), settings_path), settings_path);
  auto source = bridge::open_hf_source(vlm("qwen2_5_vl"));
  engine::CpuModel model(*source);
  for (int i = 0; ref->find(cat("prompt_", i)); ++i) {
    const std::string name = image_name(*ref, i);
    if (name.empty()) continue;
    std::string file;
    for (const std::string& f : list_directory(vlm("images")))
      if (f.compare(0, name.size() + 1, name + ".") == 0) file = f;
    const engine::VisionPatches p = engine::preprocess_qwen2_vl(read_image_file(vlm("images/" + file)), settings);
    engine::Image image;
    image.pixels = p.pixels;
    image.grid_t = p.grid_t;
    image.grid_h = p.grid_h;
    image.grid_w = p.grid_w;
    engine::GenerateOptions o;
    o.max_new_tokens = 16;
    o.images = {{image}};
    EXPECT_EQ(model.generate({mbtest::ids_of(ref->tensor(cat("prompt_", i)))}, o, {})[0], mbtest::ids_of(ref->tensor(cat("greedy_", i))))
        << file;
  }
}

TEST(EngineQwen25Vl, ImagesMustMatchTheirTokens) {
  auto source = bridge::open_hf_source(vlm("qwen2_5_vl"));
  engine::CpuModel model(*source);
  auto ref = SafetensorsFile::open(vlm("qwen2_5_vl.logits.safetensors"));
  const std::vector<int32_t> ids = mbtest::ids_of(ref->tensor("input_ids"));
  const engine::Image image = mbtest::qwen_image_of(ref->tensor("pixel_values"), ref->tensor("image_grid_thw"));
  auto status_of = [&](const std::vector<int32_t>& p, const std::vector<engine::Image>& images) {
    return mbtest::status_of([&] { model.forward(p, images); });
  };
  EXPECT_EQ(status_of(ids, {}), Status::kInvalidArgument);
  EXPECT_EQ(status_of(ids, {image, image}), Status::kInvalidArgument);
  engine::Image odd = image;
  odd.grid_h += 1;  // not a multiple of the merge size
  EXPECT_EQ(status_of(ids, {odd}), Status::kInvalidArgument);
  engine::Image short_pixels = image;
  short_pixels.pixels.resize(short_pixels.pixels.size() / 2);
  EXPECT_EQ(status_of(ids, {short_pixels}), Status::kInvalidArgument);
  EXPECT_EQ(status_of({1, 2, 3}, {}), Status::kOk);
  // a generated placeholder token is text: the cache continues without images
  engine::CpuCache cache;
  const std::vector<engine::Image> images = {image};
  model.forward(&cache, ids, nullptr, nullptr, &images);
  EXPECT_NO_THROW(model.forward(&cache, {251}));
}
