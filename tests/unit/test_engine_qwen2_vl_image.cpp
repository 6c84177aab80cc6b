// Qwen2.5-VL image preprocessing against transformers 5's Qwen2VLImageProcessor (which resizes with
// torchvision) on the fixture's three images (tests/fixtures/generate_vlm_fixtures.py: a wide and a tall PNG
// and a JPEG, none a multiple of 28 on either side, two of them grown to min_pixels): image_grid_thw equal,
// pixel_values equal to float32 rounding — which needs the file decoded as Pillow does, resized with torch's
// uint8 antialiased bicubic to the bit (Pillow's own would leave some pixels one level off), rescaled,
// normalised and cut into patches exactly as transformers does. Also transformers' smart_resize on its own
// cases, and the settings read from preprocessor_config.json.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "core/paths.h"
#include "engine/qwen2_vl_image.h"
#include "io/image_file.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "support/test_support.h"

using namespace mb;

namespace {

std::string vlm(const std::string& relative) { return mbtest::fixture("vlm/" + relative); }

engine::VisionPreprocessing fixture_settings() {
  const std::string path = vlm("qwen2_5_vl/preprocessor_config.json");
  return engine::vision_preprocessing_from(json::parse(mbtest::read_file(path), path), path);
}

}  // namespace

TEST(Qwen2VlImage, PixelValuesEqualTransformersProcessor) {
  const engine::VisionPreprocessing settings = fixture_settings();
  EXPECT_EQ(settings.min_pixels, 28 * 28 * 4);
  EXPECT_EQ(settings.max_pixels, 28 * 28 * 12);
  auto reference = SafetensorsFile::open(vlm("qwen2_5_vl.pixels.safetensors"));
  int checked = 0;
  for (const std::string& file : list_directory(vlm("images"))) {
    const std::string name = file.substr(0, file.find('.'));
    SCOPED_TRACE(file);
    const engine::VisionPatches got = engine::preprocess_qwen2_vl(read_image_file(vlm("images/" + file)), settings);
    const Tensor grid = reference->tensor("grid_thw_" + name).contiguous().to(DType::I64);
    EXPECT_EQ(got.grid_t, grid.data_as<int64_t>()[0]);
    EXPECT_EQ(got.grid_h, grid.data_as<int64_t>()[1]);
    EXPECT_EQ(got.grid_w, grid.data_as<int64_t>()[2]);
    const Tensor want = reference->tensor("pixel_values_" + name).contiguous().to(DType::F32);
    ASSERT_EQ(want.size(0), got.patches());
    ASSERT_EQ(want.size(1), got.patch_dim);
    double worst = 0;
    for (int64_t i = 0; i < want.numel(); ++i)
      worst = std::max(worst, std::fabs(double(want.data_as<float>()[i]) - got.pixels[static_cast<size_t>(i)]));
    // one 8-bit step is 1/255/std, about 0.015: anything near that is a pixel the resize got wrong
    EXPECT_LE(worst, 1e-5) << "largest difference from transformers' pixel_values";
    ++checked;
  }
  EXPECT_EQ(checked, 3);
}

TEST(Qwen2VlImage, SmartResizeAsTransformers) {
  // [height, width, min_pixels, max_pixels, resized height, resized width] from transformers' smart_resize
  // (factor 28), recorded by the generator in the fixture's report
  const json::Value report = json::parse(mbtest::read_file(vlm("report.json")), "report.json");
  const json::Value* cases = report.find("smart_resize");
  ASSERT_TRUE(cases && cases->size() >= 9);
  for (const json::Value& c : cases->items()) {
    const auto& v = c.items();
    EXPECT_EQ(engine::smart_resize(v[0].as_int(), v[1].as_int(), 28, v[2].as_int(), v[3].as_int()),
              (std::pair<int64_t, int64_t>{v[4].as_int(), v[5].as_int()}))
        << v[0].as_int() << " x " << v[1].as_int();
  }
  EXPECT_THROW(engine::smart_resize(10, 2100, 28, 3136, 1003520), Error);  // aspect ratio past 200, as transformers
}

TEST(Qwen2VlImage, SettingsFromPreprocessorConfig) {
  const auto p = engine::vision_preprocessing_from(
      json::parse(R"({"size": {"shortest_edge": 3136, "longest_edge": 12845056}, "patch_size": 16,
                      "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]})", "test"), "test");
  EXPECT_EQ(p.min_pixels, 3136);
  EXPECT_EQ(p.max_pixels, 12845056);
  EXPECT_EQ(p.patch_size, 16);
  EXPECT_EQ(p.mean[1], 0.5f);
  EXPECT_THROW(engine::vision_preprocessing_from(json::parse(R"({"image_std": [0.5, 0, 0.5]})", "t"), "t"), Error);
  EXPECT_THROW(engine::vision_preprocessing_from(json::parse(R"({"min_pixels": 10, "max_pixels": 5})", "t"), "t"), Error);
  EXPECT_THROW(engine::vision_preprocessing_from(json::parse(R"({"rescale_factor": 0.5})", "t"), "t"), Error);
  // a hostile file: sizes that would overflow, or make a small image gigabytes, are refused by name
  for (const char* hostile : {R"({"patch_size": 4611686018427387904, "merge_size": 4})", R"({"merge_size": 100000})",
                              R"({"temporal_patch_size": 1000000000})",
                              R"({"min_pixels": 1000000000000000, "max_pixels": 1000000000000000})",
                              R"({"size": {"shortest_edge": 3136, "longest_edge": 4294967296}})"}) {
    try {
      engine::vision_preprocessing_from(json::parse(hostile, "t"), "preprocessor_config.json");
      ADD_FAILURE() << hostile << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.status(), Status::kFormat) << hostile;
      EXPECT_NE(std::string(e.what()).find("must be a positive integer up to"), std::string::npos) << e.what();
    }
  }
}
