// Generation on the CPU reference: greedy tokens equal a recomputation without cache, stop ids end a
// sequence, prompts of different lengths, and the sampler's rules (seeded, top-k 1 and a tiny top-p are
// greedy, the same seed repeats).
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "bridge/param_source.h"
#include "engine/cpu/cpu_model.h"
#include "engine/generate.h"
#include "engine/sampling.h"

using namespace mb;

namespace {
const engine::CpuModel& llama() {
  static engine::CpuModel model(*bridge::open_hf_source(std::string(MB_FIXTURES_DIR) + "/bridge/hf/llama31"));
  return model;
}
}  // namespace

TEST(Generate, GreedyEqualsArgmaxOfFullRecomputation) {
  const engine::CpuModel& m = llama();
  const int64_t V = m.config().vocab_size;
  std::vector<int32_t> prompt = {1, 17, 42, 99, 5};
  engine::GenerateOptions o;
  o.max_new_tokens = 16;
  std::vector<int32_t> got = engine::generate(m, {prompt}, o)[0];
  ASSERT_EQ(got.size(), 16u);
  std::vector<int32_t> seq = prompt;
  for (int i = 0; i < 16; ++i) {  // no cache: the whole sequence again for every token
    std::vector<float> logits = m.forward(seq);
    int32_t next = engine::argmax(&logits[(seq.size() - 1) * V], V);
    EXPECT_EQ(got[static_cast<size_t>(i)], next) << "step " << i;
    seq.push_back(next);
  }
}

TEST(Generate, StopIdsAndPromptsOfDifferentLengths) {
  const engine::CpuModel& m = llama();
  engine::GenerateOptions o;
  o.max_new_tokens = 12;
  std::vector<std::vector<int32_t>> prompts = {{1, 2, 3}, {7}, {1, 17, 42, 99, 5, 6, 8}};
  auto all = engine::generate(m, prompts, o);
  ASSERT_EQ(all.size(), 3u);
  for (size_t s = 0; s < 3; ++s) {
    EXPECT_EQ(all[s].size(), 12u);
    EXPECT_EQ(all[s], engine::generate(m, {prompts[s]}, o)[0]) << "sequence " << s << " depends on the others";
  }
  o.stop_ids = {all[0][3]};  // the 4th token of the first sequence ends it there (or earlier)
  auto stopped = engine::generate(m, {prompts[0]}, o)[0];
  ASSERT_FALSE(stopped.empty());
  EXPECT_LE(stopped.size(), 4u);
  EXPECT_EQ(stopped.back(), all[0][3]);
  size_t calls = 0;
  engine::generate(m, {prompts[1]}, o, [&](size_t, int64_t step, int32_t, const float*) { return ++calls, step < 2; });
  EXPECT_EQ(calls, 3u);  // the callback stopped it after step 2
}

TEST(Generate, SamplerRules) {
  const engine::CpuModel& m = llama();
  std::vector<int32_t> prompt = {1, 17, 42};
  engine::GenerateOptions greedy;
  greedy.max_new_tokens = 10;
  const auto g = engine::generate(m, {prompt}, greedy)[0];
  engine::GenerateOptions o = greedy;
  o.sampling.temperature = 1.0;
  o.sampling.top_k = 1;
  EXPECT_EQ(engine::generate(m, {prompt}, o)[0], g);  // top-k 1 is greedy
  o.sampling.top_k = 0;
  o.sampling.top_p = 1e-9;
  EXPECT_EQ(engine::generate(m, {prompt}, o)[0], g);  // so is a nucleus of one token
  o.sampling.top_p = 1.0;
  o.sampling.temperature = 5.0;  // flat: different seeds choose differently
  std::set<std::vector<int32_t>> outcomes;
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    o.sampling.seed = seed;
    auto a = engine::generate(m, {prompt}, o)[0], b = engine::generate(m, {prompt}, o)[0];
    EXPECT_EQ(a, b) << "seed " << seed << " did not repeat";
    outcomes.insert(a);
  }
  EXPECT_GT(outcomes.size(), 4u);
  // top-k 3 never leaves the three most likely tokens
  std::vector<float> logits = m.forward(prompt);
  const int64_t V = m.config().vocab_size;
  const float* last = &logits[2 * V];
  auto top3 = engine::top_logits(last, V, 3);
  engine::SamplingOptions k3;
  k3.temperature = 10;
  k3.top_k = 3;
  engine::Sampler sampler(k3);
  std::set<int32_t> seen;
  for (int i = 0; i < 300; ++i) seen.insert(sampler.pick(last, V));
  EXPECT_EQ(seen.size(), 3u);
  for (auto [id, value] : top3) EXPECT_TRUE(seen.count(id)) << id;
  engine::SamplingOptions bad;
  bad.top_p = 0;
  EXPECT_ANY_THROW(engine::Sampler{bad});
}
