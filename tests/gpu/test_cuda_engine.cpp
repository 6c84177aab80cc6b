// The CUDA backend (bf16 weights) on the engine's transformers references (tests/fixtures/bridge/hf/
// <family>.greedy.safetensors): the same 32 greedy tokens for every prompt of every family, generated one
// prompt at a time and all prompts in one batch (two sequences, and three: both decode paths), loaded from
// the Hugging Face folder and from a Megatron checkpoint; logits within bf16 tolerance; and against the CPU
// reference on a longer sequence.
// GPU machine only: tests/gpu/run_gpu_tests.sh.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>

#include "bridge/param_source.h"
#include "core/error.h"
#include "engine/cpu/cpu_model.h"
#include "engine/cuda/cuda_model.h"
#include "engine/image_processor.h"
#include "io/safetensors.h"
#include "kernels/kernels.h"
#include "support/greedy_reference.h"
#include "support/image_fixtures.h"
#include "support/test_support.h"

using namespace mb;

namespace {

// bf16 weights and activations against transformers' float32 model: measured worst case is printed.
constexpr double kLogitsTolerance = 3e-2;

void expect_gpu_tokens(engine::Model& model, const mbtest::GreedyReference& ref, const std::string& what) {
  static_assert(kernels::kGemvMaxRows < 3, "a batch of three must take the large-batch path");
  mbtest::expect_transformers_tokens(model, ref, what, {kLogitsTolerance, true, true});
}

}  // namespace

TEST(CudaEngine, TransformersTokensFromEveryFamilyHuggingFaceFolder) {
  const auto refs = mbtest::greedy_references();
  ASSERT_EQ(refs.size(), 15u);
  for (const auto& ref : refs) {
    auto source = bridge::open_hf_source(ref.hf_dir);
    engine::CudaModel model(*source, 0);
    expect_gpu_tokens(model, ref, ref.family + " (Hugging Face)");
  }
}

TEST(CudaEngine, TransformersTokensFromEveryFamilyMegatronCheckpoint) {
  const std::string root = mbtest::scratch_dir("cuda_engine_greedy");
  for (const auto& ref : mbtest::greedy_references()) {
    auto source = mbtest::open_megatron_copy(ref, root);
    engine::CudaModel model(*source, 0);
    expect_gpu_tokens(model, ref, ref.family + " (Megatron TP2 x PP2)");
  }
}

TEST(CudaEngine, LongSequenceAgreesWithTheCpuReference) {
  // 600 tokens: many key tiles in prefill; generation past the first decode split (DeepSeek: multi-latent
  // attention, whose head size 12 takes the kernels' general path)
  for (const char* name : {"llama31", "qwen3", "mixtral", "deepseek_v3", "deepseek_yarn"}) {
    auto source = bridge::open_hf_source(mbtest::fixture("bridge/hf/") + name);
    engine::CpuModel cpu(*source);
    engine::CudaModel gpu(*source, 0);
    std::mt19937 rng(7);
    std::vector<int32_t> ids(600);
    for (auto& id : ids) id = static_cast<int32_t>(rng() % 256);
    const auto want = cpu.forward(ids), got = gpu.forward(ids);
    const double diff = mbtest::relative_max_diff(got.data(), want.data(), want.size());
    std::printf("%-10s 600 tokens: logits max |diff| / max |logit| = %.2e\n", name, diff);
    // DeepSeek-V3's router keeps 2 of 4 expert groups, then 2 experts: over 600 positions a bf16 difference in
    // the router's scores can swap a group for some token, and that token's output with it (3.65e-2 measured
    // on the H100, 2026-12-07; every decode step below still picks a best token)
    EXPECT_LE(diff, std::string(name) == "deepseek_v3" ? 5e-2 : kLogitsTolerance) << name;
    // Every token the decode steps choose is a best one under the CPU reference's logits, within bf16
    // tolerance: one sequence (the matrix-vector kernels) and three (cuBLAS and the separate kernels).
    engine::GenerateOptions o;
    o.max_new_tokens = 300;
    for (size_t batch : {1, 3}) {
      const auto g = gpu.generate(std::vector<std::vector<int32_t>>(batch, ids), o, {});
      for (size_t b = 0; b < batch; ++b) {
        ASSERT_EQ(g[b].size(), 300u);
        std::vector<int32_t> seq = ids;
        seq.insert(seq.end(), g[b].begin(), g[b].end() - 1);
        const auto ref = cpu.forward(seq);
        const int64_t V = cpu.config().vocab_size;
        for (size_t t = 0; t < g[b].size(); ++t) {
          const float* row = ref.data() + (ids.size() - 1 + t) * V;
          float best = row[0], scale = 0.f;
          for (int64_t v = 0; v < V; ++v) best = std::max(best, row[v]), scale = std::max(scale, std::abs(row[v]));
          ASSERT_GE(row[g[b][t]], best - kLogitsTolerance * scale) << name << " batch " << batch << " step " << t;
        }
      }
    }
  }
}

TEST(CudaEngine, SamplingIsSeededAndStopsAtStopIds) {
  auto source = bridge::open_hf_source(mbtest::fixture("bridge/hf/llama31"));
  engine::CudaModel gpu(*source, 0);
  engine::GenerateOptions o;
  o.max_new_tokens = 20;
  o.sampling.temperature = 0.8;
  o.sampling.top_k = 50;
  o.sampling.top_p = 0.9;
  o.sampling.seed = 42;
  const std::vector<std::vector<int32_t>> prompts = {{1, 2, 3}, {9, 8, 7, 6, 5}};
  const auto a = gpu.generate(prompts, o, {}), b = gpu.generate(prompts, o, {});
  EXPECT_EQ(a, b);
  EXPECT_EQ(a[0].size(), 20u);
  o.stop_ids = {a[1][3]};
  int calls = 0;
  const auto stopped = gpu.generate(prompts, o, [&](size_t, int64_t step, int32_t, const float* logits) {
    ++calls;
    EXPECT_EQ(logits != nullptr, step == 0) << "the tokens are drawn on the device; only step 0's logits come back";
    return true;
  });
  EXPECT_LE(stopped[1].size(), 4u);
  EXPECT_EQ(stopped[1].back(), a[1][3]);
  EXPECT_EQ(calls, static_cast<int>(stopped[0].size() + stopped[1].size()));
}

// Sampling that keeps only the most likely token is greedy decoding, through the device sampler at every step.
TEST(CudaEngine, SamplingFromTheTopTokenIsGreedy) {
  auto source = bridge::open_hf_source(mbtest::fixture("bridge/hf/llama31"));
  engine::CudaModel gpu(*source, 0);
  engine::GenerateOptions o;
  o.max_new_tokens = 24;
  const std::vector<std::vector<int32_t>> prompts = {{1, 2, 3}, {9, 8, 7, 6, 5}, {4}};
  const auto greedy = gpu.generate(prompts, o, {});
  o.sampling.temperature = 1.5;
  o.sampling.top_k = 1;
  o.sampling.seed = 3;
  EXPECT_EQ(gpu.generate(prompts, o, {}), greedy);
  o.sampling.top_k = 0;
  o.sampling.top_p = 1e-6;  // the head reaching a millionth of the mass is the top token alone
  EXPECT_EQ(gpu.generate(prompts, o, {}), greedy);
}

// compare --debug-hooks on the GPU: the same modules, in the same order and with the same shapes and weights,
// as the CPU reference, and output statistics within bf16 tolerance of its float32 ones.
TEST(CudaEngine, ModuleTraceMatchesTheCpuReference) {
  for (const char* name : {"llama31", "qwen2", "qwen3", "minicpm", "mixtral", "gemma2", "gpt2"}) {
    auto source = bridge::open_hf_source(mbtest::fixture("bridge/hf/") + name);
    engine::CpuModel cpu(*source);
    engine::CudaModel gpu(*source, 0);
    const std::vector<int32_t> ids = {5, 17, 200, 3, 99, 42, 7, 128, 64, 1, 250, 33};
    std::vector<engine::ModuleRecord> want, got;
    cpu.forward_traced(ids, [&](const engine::ModuleRecord& r) { want.push_back(r); });
    const auto logits = gpu.forward_traced(ids, [&](const engine::ModuleRecord& r) { got.push_back(r); });
    EXPECT_EQ(logits, gpu.forward(ids)) << name << ": tracing changes nothing";
    ASSERT_EQ(got.size(), want.size()) << name;
    ASSERT_EQ(want.size(), 4u * static_cast<size_t>(cpu.config().num_layers) + 3) << name;
    double worst = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      const engine::ModuleRecord &w = want[i], &g = got[i];
      EXPECT_EQ(g.module, w.module) << name;
      EXPECT_EQ(g.input_shape, w.input_shape) << w.module;
      EXPECT_EQ(g.output_shape, w.output_shape) << w.module;
      EXPECT_EQ(g.weights, w.weights) << w.module;
      const double scale = std::max(std::abs(w.min), std::abs(w.max));
      for (auto [a, b] : {std::pair{g.min, w.min}, std::pair{g.max, w.max}, std::pair{g.mean, w.mean}}) {
        EXPECT_LE(std::abs(a - b), kLogitsTolerance * scale) << name << " " << w.module;
        worst = std::max(worst, std::abs(a - b) / scale);
      }
      EXPECT_LE(std::abs(g.abs_sum - w.abs_sum), kLogitsTolerance * w.abs_sum) << name << " " << w.module;
    }
    std::printf("%-10s module trace: %zu records, worst |diff| / scale = %.2e\n", name, got.size(), worst);
  }
}

TEST(CudaEngine, BertMaskedLmLogitsAgreeWithTheCpuReference) {
  // BERT (an encoder: every position sees every other, token types, residuals after the norms, the masked-LM
  // head): bf16 on the GPU against the float32 reference
  auto source = bridge::open_hf_source(mbtest::fixture("bridge/hf/bert"));
  engine::CpuModel cpu(*source);
  engine::CudaModel gpu(*source, 0);
  std::mt19937 rng(11);
  for (int length : {1, 12, 100}) {  // one position; the fixture's; many key tiles in prefill
    std::vector<int32_t> ids(static_cast<size_t>(length)), types(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(rng() % 256), types[i] = i >= ids.size() / 2;
    const std::vector<float> want = cpu.encode(ids, types), got = gpu.encode(ids, types);
    ASSERT_EQ(got.size(), want.size());
    const double diff = mbtest::relative_max_diff(got.data(), want.data(), want.size());
    std::printf("bert %3d tokens: logits max |diff| / max |logit| = %.2e\n", length, diff);
    EXPECT_LE(diff, kLogitsTolerance) << length << " tokens";
  }
  EXPECT_THROW(gpu.generate({{1, 2}}, engine::GenerateOptions{}, {}), Error);
}


// LLaVA with images (tests/fixtures/families/hf/llava*, as test_engine_llava runs on the CPU): the tower and
// projector on the GPU, logits within bf16 tolerance, the 32 greedy tokens of each prompt with its own image,
// alone and both in one batch.
TEST(CudaEngine, LlavaWithImagesAgreesWithTransformers) {
  const std::string dir = mbtest::fixture("families/hf/llava");
  auto logits_ref = SafetensorsFile::open(dir + ".logits.safetensors");
  auto greedy_ref = SafetensorsFile::open(dir + ".greedy.safetensors");
  auto source = bridge::open_hf_source(dir);
  engine::CudaModel model(*source, 0);
  const Tensor want_t = logits_ref->tensor("logits").to(DType::F32);
  const std::vector<float> want(want_t.data_as<float>(), want_t.data_as<float>() + want_t.numel());
  const std::vector<float> got =
      model.forward(mbtest::ids_of(logits_ref->tensor("input_ids")), {mbtest::llava_image_of(logits_ref->tensor("pixel_values"))});
  ASSERT_EQ(got.size(), want.size());
  const double diff = mbtest::relative_max_diff(got.data(), want.data(), want.size());
  std::printf("llava (Hugging Face, CUDA): logits max |diff| / max |logit| = %.2e\n", diff);
  EXPECT_LE(diff, kLogitsTolerance);
  std::vector<std::vector<int32_t>> prompts, greedy;
  engine::GenerateOptions o;
  o.max_new_tokens = 32;
  for (int i = 0; i < 2; ++i) {
    prompts.push_back(mbtest::ids_of(greedy_ref->tensor(cat("prompt_", i))));
    greedy.push_back(mbtest::ids_of(greedy_ref->tensor(cat("greedy_", i))));
    o.images.push_back({mbtest::llava_image_of(greedy_ref->tensor(cat("pixel_values_", i)))});
    engine::GenerateOptions one = o;
    one.images = {o.images.back()};
    EXPECT_EQ(model.generate({prompts.back()}, one, {})[0], greedy.back()) << "prompt " << i;
  }
  const auto both = model.generate(prompts, o, {});
  for (int i = 0; i < 2; ++i) EXPECT_EQ(both[static_cast<size_t>(i)], greedy[static_cast<size_t>(i)]) << "batched, prompt " << i;
}

// Qwen2.5-VL (tests/fixtures/vlm, as test_engine_qwen2_5_vl runs on the CPU): the vision tower, its windows and
// merger, and the multimodal rotary positions on the GPU. Logits of an image prompt within bf16 tolerance of the
// CPU reference at the positions generation uses; transformers' 16 greedy tokens for three image prompts and a
// text-only one, each alone and all four in one batch (the large-batch decode path, each sequence's rotary
// offset its own); and again with mbridge preparing the image files itself.
TEST(CudaEngine, Qwen25VlAgreesWithTheCpuReferenceAndTransformers) {
  const std::string dir = mbtest::fixture("vlm/qwen2_5_vl");
  auto logits_ref = SafetensorsFile::open(mbtest::fixture("vlm/qwen2_5_vl.logits.safetensors"));
  auto greedy_ref = SafetensorsFile::open(mbtest::fixture("vlm/qwen2_5_vl.greedy.safetensors"));
  auto source = bridge::open_hf_source(dir);
  engine::CudaModel model(*source, 0);
  engine::CpuModel cpu(*source);
  const std::vector<int32_t> ids = mbtest::ids_of(logits_ref->tensor("input_ids"));
  const std::vector<engine::Image> image = {
      mbtest::qwen_image_of(logits_ref->tensor("pixel_values"), logits_ref->tensor("image_grid_thw"))};
  const std::vector<float> want = cpu.forward(ids, image), got = model.forward(ids, image);
  ASSERT_EQ(got.size(), want.size());
  const double diff = mbtest::relative_max_diff(got.data(), want.data(), want.size());
  std::printf("qwen2_5_vl (CUDA vs CPU reference): logits max |diff| / max |logit| = %.2e\n", diff);
  EXPECT_LE(diff, kLogitsTolerance);

  const engine::ImageProcessor processor(model.config(), dir);
  std::vector<std::vector<int32_t>> prompts, greedy;
  engine::GenerateOptions all, from_files;
  all.max_new_tokens = from_files.max_new_tokens = 16;
  for (int i = 0; greedy_ref->find(cat("prompt_", i)); ++i) {
    prompts.push_back(mbtest::ids_of(greedy_ref->tensor(cat("prompt_", i))));
    greedy.push_back(mbtest::ids_of(greedy_ref->tensor(cat("greedy_", i))));
    std::vector<engine::Image> images, files;
    if (greedy_ref->find(cat("image_", i))) {
      const Tensor name_bytes = greedy_ref->tensor(cat("image_", i)).contiguous();
      const std::string name(name_bytes.data_as<char>(), static_cast<size_t>(name_bytes.numel()));
      const auto pixels = SafetensorsFile::open(mbtest::fixture("vlm/qwen2_5_vl.pixels.safetensors"));
      images.push_back(mbtest::qwen_image_of(pixels->tensor("pixel_values_" + name), pixels->tensor("grid_thw_" + name)));
      const std::string file = mbtest::fixture("vlm/images/" + name + (name == "square" ? ".jpg" : ".png"));
      files.push_back(processor.load(file));
    }
    all.images.push_back(images);
    from_files.images.push_back(files);
    engine::GenerateOptions one = all;
    one.images = {images};
    EXPECT_EQ(model.generate({prompts.back()}, one, {})[0], greedy.back()) << "prompt " << i;
  }
  ASSERT_EQ(prompts.size(), 4u);
  const auto batch = model.generate(prompts, all, {});
  const auto files = model.generate(prompts, from_files, {});
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(batch[i], greedy[i]) << "batched, prompt " << i;
    EXPECT_EQ(files[i], greedy[i]) << "from the image files, prompt " << i;
  }
}
