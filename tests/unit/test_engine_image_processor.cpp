// What a vision-language model's processor does before the model, on mbridge's side: CLIP's shortest-edge
// resize and centre crop (where the crop starts when the margin is odd, as transformers starts it; zero padding
// when the crop is larger), the settings of
// preprocessor_config.json, and the image placeholders of a prompt expanded to the tokens each image fills
// (LLaVA: one per patch of its tower; Qwen2.5-VL: one per merged patch). Pixel values against transformers'
// processors are checked in test_engine_qwen2_vl_image and test_engine_llava.
#include <gtest/gtest.h>


#include "bridge/param_source.h"
#include "core/error.h"
#include "engine/clip_image.h"
#include "engine/image_processor.h"
#include "engine/image_resize.h"
#include "io/json.h"
#include "support/test_support.h"

using namespace mb;

namespace {

RgbImage gradient(int64_t width, int64_t height) {
  RgbImage im;
  im.width = width;
  im.height = height;
  for (int64_t y = 0; y < height; ++y)
    for (int64_t x = 0; x < width; ++x)
      for (int64_t c = 0; c < 3; ++c) im.pixels.push_back(static_cast<uint8_t>((x * 7 + y * 13 + c * 50) % 256));
  return im;
}

engine::ClipPreprocessing clip_of(const std::string& config_json, int64_t image_size = 32) {
  return engine::clip_preprocessing_from(json::parse(config_json, "preprocessor_config.json"), "preprocessor_config.json",
                                         image_size);
}

}  // namespace

TEST(ClipImage, SettingsFromPreprocessorConfig) {
  engine::ClipPreprocessing p = clip_of(R"({"size": {"shortest_edge": 40}, "crop_size": {"height": 36, "width": 34},
                                             "image_mean": [0.5, 0.5, 0.5], "image_std": [0.25, 0.5, 1.0]})");
  EXPECT_EQ(p.shortest_edge, 40);
  EXPECT_EQ(p.crop_height, 36);
  EXPECT_EQ(p.crop_width, 34);
  EXPECT_FLOAT_EQ(p.std[1], 0.5f);
  p = clip_of(R"({"size": 24, "crop_size": 20, "do_center_crop": false})");
  EXPECT_EQ(p.shortest_edge, 24);
  EXPECT_EQ(p.crop_height, 20);
  EXPECT_FALSE(p.center_crop);
  p = clip_of("{}", 336);  // no file: the tower's size, CLIP's mean and std
  EXPECT_EQ(p.shortest_edge, 336);
  EXPECT_EQ(p.crop_width, 336);
  EXPECT_FLOAT_EQ(p.mean[0], 0.48145466f);
  EXPECT_EQ(mbtest::status_of([] { clip_of(R"({"resample": 2})"); }), Status::kUnsupported);
  EXPECT_EQ(mbtest::status_of([] { clip_of(R"({"do_normalize": false})"); }), Status::kUnsupported);
  EXPECT_EQ(mbtest::status_of([] { clip_of(R"({"size": {"height": 20, "width": 30}})"); }), Status::kUnsupported);
  EXPECT_EQ(mbtest::status_of([] { clip_of(R"({"crop_size": -3})"); }), Status::kFormat);
  EXPECT_EQ(mbtest::status_of([] { clip_of(R"({"image_std": [1, 0, 1]})"); }), Status::kFormat);
}

TEST(ClipImage, ShortestEdgeThenCentreCropStartingAsTransformers) {
  // 47 x 75: the short side becomes 32, the long one int(32 * 75 / 47) = 51; the crop's margin is 19 rows and
  // starts at 9 (transformers 5.17 does, test_engine_llava checks its pixels; torchvision's own center_crop
  // would round 9.5 to 10)
  const RgbImage tall = gradient(47, 75);
  for (engine::ResizeKernel kernel : {engine::ResizeKernel::kTorch, engine::ResizeKernel::kPillow}) {
    engine::ClipPreprocessing p = clip_of(R"({"size": {"shortest_edge": 32}, "crop_size": 32})");
    p.resize = kernel;
    const engine::Image out = engine::preprocess_clip(tall, p);
    ASSERT_EQ(out.channels, 3);
    ASSERT_EQ(out.height, 32);
    ASSERT_EQ(out.width, 32);
    const RgbImage resized = engine::resize_bicubic(tall, 32, 51, kernel);
    const int64_t top = 9;
    for (int64_t y = 0; y < 32; ++y)
      for (int64_t x = 0; x < 32; ++x)
        for (int64_t c = 0; c < 3; ++c) {
          const float v = static_cast<float>(resized.pixels[static_cast<size_t>(((y + top) * 32 + x) * 3 + c)] * (1.0 / 255.0));
          ASSERT_EQ(out.pixels[static_cast<size_t>((c * 32 + y) * 32 + x)], (v - p.mean[c]) / p.std[c])
              << "row " << y << " column " << x << " channel " << c;
        }
  }
  // a crop larger than the resized image: black (0 before normalisation) around it, the leading margin the
  // smaller half
  engine::ClipPreprocessing p = clip_of(R"({"size": {"shortest_edge": 16}, "crop_size": 19})");
  const engine::Image padded = engine::preprocess_clip(gradient(20, 20), p);
  ASSERT_EQ(padded.height, 19);
  const float black = (0.f - p.mean[0]) / p.std[0];
  EXPECT_EQ(padded.pixels[0], black);                         // row 0: padding
  EXPECT_NE(padded.pixels[static_cast<size_t>(1 * 19 + 1)], black);  // row 1, column 1: the image
  EXPECT_EQ(padded.pixels[static_cast<size_t>(18 * 19 + 18)], black);  // the last row and column: padding
}

TEST(ImageProcessor, PlaceholdersExpandToTheTokensEachImageFills) {
  auto qwen = bridge::open_hf_source(mbtest::fixture("vlm/qwen2_5_vl"));
  const engine::ImageProcessor processor(qwen->config(), mbtest::fixture("vlm/qwen2_5_vl"));
  EXPECT_EQ(processor.placeholder(), 251);
  engine::Image a, b;
  a.grid_t = b.grid_t = 1;
  a.grid_h = 4, a.grid_w = 6;  // 6 merged patches
  b.grid_h = 2, b.grid_w = 2;  // 1
  EXPECT_EQ(processor.tokens_of(a), 6);
  const std::vector<int32_t> one_each = {7, 251, 8, 251, 9};
  const std::vector<int32_t> expanded = {7, 251, 251, 251, 251, 251, 251, 8, 251, 9};
  EXPECT_EQ(processor.expand(one_each, {a, b}), expanded);
  EXPECT_EQ(processor.expand(expanded, {a, b}), expanded);  // already expanded: kept
  EXPECT_EQ(processor.expand({7, 8}, {}), (std::vector<int32_t>{7, 8}));
  EXPECT_EQ(mbtest::status_of([&] { processor.expand({7, 251, 251, 8}, {a, b, b}); }), Status::kInvalidArgument);
  EXPECT_EQ(mbtest::status_of([&] { processor.expand({7, 251}, {a, b}); }), Status::kInvalidArgument);

  auto llava = bridge::open_hf_source(mbtest::fixture("families/hf/llava"));
  const engine::ImageProcessor clip(llava->config(), "");  // no folder: CLIP's defaults at the tower's size
  EXPECT_EQ(clip.source(), "defaults");
  engine::Image c;
  EXPECT_EQ(clip.tokens_of(c), 16);  // (32 / 8)^2 patches
  EXPECT_EQ(clip.expand({3, clip.placeholder(), 4}, {c}).size(), 18u);

  auto text = bridge::open_hf_source(mbtest::fixture("bridge/hf/llama31"));
  EXPECT_EQ(mbtest::status_of([&] { engine::ImageProcessor(text->config(), ""); }), Status::kUnsupported);
}
