// The CPU reference generates the tokens transformers generated: for every family, two prompts, 32 greedy
// tokens chosen by transformers' float32 model (tests/fixtures/generate_engine_fixtures.py), and the logits
// of the whole sequence to float32 tolerance; with the weights read from the Hugging Face folder and from a
// Megatron checkpoint (TP2 x PP2 torch_dist) of the same model.
#include <gtest/gtest.h>

#include "bridge/param_source.h"
#include "engine/cpu/cpu_model.h"
#include "support/greedy_reference.h"
#include "support/test_support.h"

using namespace mb;

// (Qwen3's q/k norms put it at 1.1e-4 against transformers, the others under 1e-6: test_engine_cpu_forward)

TEST(EngineGreedy, TransformersTokensFromEveryFamilyHuggingFaceFolder) {
  const auto refs = mbtest::greedy_references();
  ASSERT_EQ(refs.size(), 15u);
  for (const auto& ref : refs) {
    ASSERT_GE(ref.cases.size(), 2u) << ref.family;
    engine::CpuModel model(*bridge::open_hf_source(ref.hf_dir));
    mbtest::expect_transformers_tokens(model, ref, ref.family + " (Hugging Face)");
  }
}

TEST(EngineGreedy, TransformersTokensFromEveryFamilyMegatronCheckpoint) {
  const std::string root = mbtest::scratch_dir("engine_greedy");
  for (const auto& ref : mbtest::greedy_references()) {
    engine::CpuModel model(*mbtest::open_megatron_copy(ref, root));
    mbtest::expect_transformers_tokens(model, ref, ref.family + " (Megatron TP2 x PP2)");
  }
}
