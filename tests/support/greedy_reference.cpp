#include "support/greedy_reference.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "bridge/convert.h"
#include "bridge/param_source.h"
#include "engine/model.h"
#include "engine/rank_plan.h"
#include "io/safetensors.h"
#include "support/test_support.h"

namespace mbtest {
namespace {

std::vector<int32_t> ids_of(const mb::Tensor& t) {
  mb::Tensor c = t.contiguous().to(mb::DType::I64);
  std::vector<int32_t> out;
  for (int64_t i = 0; i < c.numel(); ++i) out.push_back(static_cast<int32_t>(c.data_as<int64_t>()[i]));
  return out;
}

}  // namespace

std::vector<GreedyReference> greedy_references() {
  std::vector<GreedyReference> out;
  const std::string root = fixture("bridge/hf");
  for (const std::string& name : names_with_suffix(root, ".greedy.safetensors")) {
    GreedyReference r;
    r.family = name;
    r.hf_dir = root + "/" + name;
    auto file = mb::SafetensorsFile::open(root + "/" + name + ".greedy.safetensors");
    for (int i = 0; file->find("prompt_" + std::to_string(i)); ++i) {
      GreedyCase c;
      c.prompt = ids_of(file->tensor("prompt_" + std::to_string(i)));
      c.greedy = ids_of(file->tensor("greedy_" + std::to_string(i)));
      mb::Tensor logits = file->tensor("logits_" + std::to_string(i)).contiguous().to(mb::DType::F32);
      c.vocab = logits.size(1);
      c.logits.assign(logits.data_as<float>(), logits.data_as<float>() + logits.numel());
      r.cases.push_back(std::move(c));
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::unique_ptr<mb::bridge::ParamSource> open_megatron_copy(const GreedyReference& ref, const std::string& root) {
  static std::map<std::string, std::string> made;  // family -> checkpoint
  auto it = made.find(ref.family);
  if (it == made.end()) {
    mb::bridge::ImportOptions o;
    o.target.layout.tp = 2;
    o.target.layout.pp = 2;
    o.target.fsync = false;
    const std::string dir = root + "/" + ref.family;
    mb::bridge::import_checkpoint(ref.hf_dir, dir, o);
    it = made.emplace(ref.family, dir).first;
  }
  mb::bridge::MegatronSourceOptions options;
  options.hf_model = ref.hf_dir;
  return mb::bridge::open_megatron_source(it->second, options);
}

std::vector<int32_t> GreedyCase::scored_sequence() const {
  std::vector<int32_t> seq = prompt;
  if (!greedy.empty()) seq.insert(seq.end(), greedy.begin(), greedy.end() - 1);
  return seq;
}

double relative_max_diff(const float* a, const float* b, size_t n) {
  double diff = 0, ref = 0;
  for (size_t i = 0; i < n; ++i) {
    diff = std::max(diff, double(std::fabs(a[i] - b[i])));
    ref = std::max(ref, double(std::fabs(b[i])));
  }
  return diff / ref;
}

void expect_transformers_tokens(mb::engine::Model& model, const GreedyReference& ref, const std::string& what,
                                const TokenCheck& check) {
  std::vector<std::vector<int32_t>> prompts;
  mb::engine::GenerateOptions o;
  for (size_t i = 0; i < ref.cases.size(); ++i) {
    const GreedyCase& c = ref.cases[i];
    prompts.push_back(c.prompt);
    o.max_new_tokens = static_cast<int64_t>(c.greedy.size());
    EXPECT_EQ(model.generate({c.prompt}, o, {})[0], c.greedy) << what << " prompt " << i;
    const std::vector<float> logits = model.forward(c.scored_sequence());
    ASSERT_EQ(logits.size(), c.logits.size()) << what;
    const double diff = relative_max_diff(logits.data(), c.logits.data(), logits.size());
    if (check.print_diffs) std::printf("%-40s prompt %zu: logits max |diff| / max |logit| = %.2e\n", what.c_str(), i, diff);
    EXPECT_LE(diff, check.logits_tolerance) << what << " prompt " << i;
  }
  if (!check.batches) return;
  // all prompts in one batch (different lengths): each sequence as it was alone
  const auto batch = model.generate(prompts, o, {});
  for (size_t i = 0; i < ref.cases.size(); ++i) EXPECT_EQ(batch[i], ref.cases[i].greedy) << what << " batched, prompt " << i;
  prompts.push_back(ref.cases[0].prompt);
  const auto three = model.generate(prompts, o, {});
  for (size_t i = 0; i < prompts.size(); ++i)
    EXPECT_EQ(three[i], ref.cases[i % ref.cases.size()].greedy) << what << " batch of three, sequence " << i;
}

std::string parallel_name(const mb::engine::ParallelOptions& o) {
  return mb::cat("TP", o.tp, " x PP", o.pp, o.expert_parallel ? " (expert parallel)" : "");
}

}  // namespace mbtest
