// The CPU reference forward pass against the logits transformers computed for the same input ids (float32
// model; tests/fixtures/bridge/hf/<family>.logits.safetensors), for every family's fixture, with weights
// read from the Hugging Face folder; and against Megatron-Core's own logits with weights read straight from
// Megatron-Core's checkpoints (tests/fixtures/bridge/mcore/).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "bridge/param_source.h"
#include "engine/cpu/cpu_model.h"
#include "engine/module_trace.h"
#include "io/safetensors.h"
#include "support/test_support.h"

using namespace mb;

namespace {
struct Reference {
  std::vector<int32_t> ids;
  std::vector<float> logits;  // [tokens x vocab]
  int64_t vocab = 0;
};

Reference read_reference(const std::string& path) {
  auto file = SafetensorsFile::open(path);
  Reference r;
  Tensor ids = file->tensor("input_ids").contiguous();
  for (int64_t i = 0; i < ids.numel(); ++i) r.ids.push_back(static_cast<int32_t>(ids.data_as<int64_t>()[i]));
  Tensor logits = file->tensor("logits").contiguous();
  r.vocab = logits.size(logits.ndim() - 1);
  r.logits.assign(logits.data_as<float>(), logits.data_as<float>() + logits.numel());
  return r;
}

// Largest |difference| over the largest |reference logit|, and whether every position's argmax agrees.
void compare(const std::vector<float>& got, const Reference& want, int64_t vocab, const std::string& what, double tolerance) {
  const int64_t T = static_cast<int64_t>(want.ids.size());
  double max_diff = 0, max_ref = 0;
  int argmax_mismatch = 0;
  for (int64_t t = 0; t < T; ++t) {
    int64_t best_got = 0, best_want = 0;
    for (int64_t v = 0; v < want.vocab; ++v) {
      const float g = got[t * vocab + v], w = want.logits[t * want.vocab + v];
      max_diff = std::max(max_diff, double(std::fabs(g - w)));
      max_ref = std::max(max_ref, double(std::fabs(w)));
      if (g > got[t * vocab + best_got]) best_got = v;
      if (w > want.logits[t * want.vocab + best_want]) best_want = v;
    }
    argmax_mismatch += best_got != best_want;
  }
  EXPECT_LE(max_diff / max_ref, tolerance) << what << ": max |diff| " << max_diff << " of max |logit| " << max_ref;
  EXPECT_EQ(argmax_mismatch, 0) << what;
}

}  // namespace

TEST(CpuForward, LogitsEqualTransformersForEveryFamily) {
  const std::vector<std::string> names = mbtest::names_with_suffix(mbtest::fixture("bridge/hf"), ".logits.safetensors");
  ASSERT_GE(names.size(), 9u);
  for (const std::string& name : names) {
    if (name == "bert") continue;  // an encoder, with token types and padded rows: test_engine_encoder
    const std::string hf = std::string(MB_FIXTURES_DIR) + "/bridge/hf/" + name;
    engine::CpuModel model(*bridge::open_hf_source(hf));
    Reference ref = read_reference(hf + ".logits.safetensors");
    // Qwen3 and Qwen3-MoE land at 1.1e-4 (q/k norms); Megatron-Core differs from transformers by the same
    // amount on these fixtures (docs/testing.md, bridge interop), the others by under 1e-6.
    compare(model.forward(ref.ids), ref, model.config().vocab_size, name, 2e-4);
  }
}

TEST(CpuForward, WeightsStraightFromMegatronCoreCheckpointsGiveItsLogits) {
  // Megatron-Core's own GPT models (read as the llama and mixtral families), in torch_dist and legacy files,
  // at TP1, TP2 and PP2: the same weights, so the same logits as Megatron-Core computed at TP1.
  const std::string mcore = std::string(MB_FIXTURES_DIR) + "/bridge/mcore/";
  struct Case {
    const char* reference;
    const char* checkpoint;
    const char* family;
  };
  for (const Case& k : {Case{"dense_tp1", "dense_tp1/torch_dist", "llama"}, Case{"dense_tp1", "dense_tp1/legacy", "llama"},
                        Case{"dense_tp1", "dense_tp2/torch_dist", "llama"}, Case{"dense_tp1", "dense_pp2/legacy", "llama"},
                        Case{"moe_tp1", "moe_tp1/torch_dist", "mixtral"}}) {
    Reference ref = read_reference(mcore + k.reference + ".logits.safetensors");
    bridge::MegatronSourceOptions options;
    options.family = k.family;
    engine::CpuModel model(*bridge::open_megatron_source(mcore + k.checkpoint, options));
    compare(model.forward(ref.ids), ref, model.config().vocab_size, k.checkpoint, 1e-4);
  }
}

TEST(CpuForward, ACacheGivesTheLogitsOfTheWholeSequence) {
  // prompt at once, then one token at a time: each step's logits equal the full forward's at that position
  for (const char* name : {"llama31", "qwen3_moe", "minicpm"}) {
    const std::string hf = std::string(MB_FIXTURES_DIR) + "/bridge/hf/" + name;
    engine::CpuModel model(*bridge::open_hf_source(hf));
    Reference ref = read_reference(hf + ".logits.safetensors");
    const int64_t T = static_cast<int64_t>(ref.ids.size());
    std::vector<float> full = model.forward(ref.ids);
    engine::CpuCache cache;
    std::vector<float> got = model.forward(&cache, std::vector<int32_t>(ref.ids.begin(), ref.ids.begin() + 5));
    for (int64_t t = 5; t < T; ++t) {
      std::vector<float> step = model.forward(&cache, {ref.ids[t]});
      got.insert(got.end(), step.begin(), step.end());
    }
    ASSERT_EQ(got.size(), full.size());
    EXPECT_EQ(cache.length, T);
    double max_diff = 0;
    for (size_t i = 0; i < got.size(); ++i) max_diff = std::max(max_diff, double(std::fabs(got[i] - full[i])));
    EXPECT_LT(max_diff, 1e-6) << name;
  }
}

TEST(CpuForward, ModuleHooksReportEveryModuleInOrder) {
  const std::string hf = std::string(MB_FIXTURES_DIR) + "/bridge/hf/qwen3";
  engine::CpuModel model(*bridge::open_hf_source(hf));
  Reference ref = read_reference(hf + ".logits.safetensors");
  std::vector<engine::ModuleRecord> records;
  const std::vector<float> logits = model.forward_traced(ref.ids, [&](const engine::ModuleRecord& r) { records.push_back(r); });
  EXPECT_EQ(logits, model.forward(ref.ids));  // the hooks change nothing
  const int64_t L = model.config().num_layers, T = static_cast<int64_t>(ref.ids.size());
  ASSERT_EQ(static_cast<int64_t>(records.size()), 3 + 4 * L);
  EXPECT_EQ(records.front().module, "embedding");
  EXPECT_EQ(records[1].module, "decoder.layers.0.input_layernorm");
  EXPECT_EQ(records[2].module, "decoder.layers.0.self_attention");
  EXPECT_EQ(records[2].weights.size(), 4u);  // qkv, proj and Qwen3's q/k norms
  EXPECT_EQ(records[4].module, "decoder.layers.0.mlp");
  EXPECT_EQ(records[records.size() - 2].module, "decoder.final_layernorm");
  const engine::ModuleRecord& out = records.back();
  EXPECT_EQ(out.module, "output_layer");
  EXPECT_EQ(out.output_shape, (std::vector<int64_t>{T, model.config().vocab_size}));
  // the statistics are those of what the module computed: the output layer's are the logits'
  EXPECT_EQ(out.min, *std::min_element(logits.begin(), logits.end()));
  EXPECT_EQ(out.max, *std::max_element(logits.begin(), logits.end()));
  double abs_sum = 0;
  for (float v : logits) abs_sum += std::fabs(v);
  EXPECT_NEAR(out.abs_sum, abs_sum, 1e-9 * abs_sum);
  const json::Value line = engine::to_json(out);
  EXPECT_EQ(line.find("module")->as_string(), "output_layer");
  EXPECT_EQ(line.find("abs_sum")->as_number(), out.abs_sum);
}
