// The engine's greedy references, made by transformers (tests/fixtures/generate_engine_fixtures.py): per
// family, prompts, the 32 tokens transformers chose greedily after each, and its float32 logits of the whole
// sequence; and a Megatron checkpoint of the same model written by mbridge's import for the tests that load
// from Megatron.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mb::bridge {
class ParamSource;
}
namespace mb::engine {
class Model;
struct ParallelOptions;
}

namespace mbtest {

struct GreedyCase {
  std::vector<int32_t> prompt;
  std::vector<int32_t> greedy;  // the tokens transformers chose
  std::vector<float> logits;    // [prompt + greedy - 1, vocab]: the logits each of those came from, and before
  int64_t vocab = 0;
  // The prompt and every greedy token but the last: the sequence whose forward pass `logits` holds.
  std::vector<int32_t> scored_sequence() const;
};

struct GreedyReference {
  std::string family;  // fixture name: llama31, qwen3_moe, ...
  std::string hf_dir;
  std::vector<GreedyCase> cases;
};

// Every tests/fixtures/bridge/hf/<family>.greedy.safetensors.
std::vector<GreedyReference> greedy_references();
// The family's model imported into a torch_dist checkpoint at TP2 x PP2 under `root` (made once per process),
// opened as a Megatron source.
std::unique_ptr<mb::bridge::ParamSource> open_megatron_copy(const GreedyReference& ref, const std::string& root);

// Largest |a - b| over the largest |b|, over the first rows x vocab values.
double relative_max_diff(const float* a, const float* b, size_t n);

struct TokenCheck {
  double logits_tolerance = 2e-4;  // relative_max_diff to transformers' float32 logits
  bool print_diffs = false;        // each prompt's logits difference on stdout
  // also every prompt in one batch, and a batch of three (past the CUDA backend's matrix-vector row limit; for a
  // pipeline, sequences that overlap in the stages)
  bool batches = false;
};
// `model` generates transformers' greedy tokens for every prompt of `ref` (each alone), and its logits of each
// whole sequence agree with transformers' within the tolerance (gtest expectations named by `what`).
void expect_transformers_tokens(mb::engine::Model& model, const GreedyReference& ref, const std::string& what,
                                const TokenCheck& check = {});
// "TP2 x PP1 (expert parallel)": a parallel run's name in those expectations.
std::string parallel_name(const mb::engine::ParallelOptions& o);

}  // namespace mbtest
