// Per-module fingerprints of a forward pass (the seed's debugger.py, and `mbridge compare --debug-hooks`):
// for each module the backend runs — the embedding, every layer's norms, attention and MLP, the final norm and
// the output layer, named as Megatron-Core names them — its input, output and weight shapes and statistics of
// its output, so two runs of one model (from a Hugging Face folder and from a Megatron checkpoint, or on two
// backends) can be compared module by module to find where they part.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "bridge/model_config.h"
#include "io/json.h"

namespace mb::engine {

struct ModuleRecord {
  std::string module;                 // "decoder.layers.3.self_attention"
  std::vector<int64_t> input_shape;
  std::vector<int64_t> output_shape;
  std::vector<std::pair<std::string, std::vector<int64_t>>> weights;  // "linear_qkv.weight" -> shape
  std::string dtype = "float32";      // of the output
  double min = 0, max = 0, mean = 0, abs_sum = 0;
};

using ModuleHook = std::function<void(const ModuleRecord&)>;

// The parts of the records that depend on the model alone (name, shapes, weights), for a forward pass of
// `tokens` tokens, so every backend reports the same modules with the same shapes. vocab_rows: the rows of the
// embedding and output weights (the vocabulary, padded).
enum class LayerModule { kInputNorm, kSelfAttention, kPreMlpNorm, kMlp };
ModuleRecord embedding_record(const bridge::ModelConfig& c, int64_t vocab_rows, int64_t tokens);
ModuleRecord layer_record(const bridge::ModelConfig& c, int layer, LayerModule module, int64_t tokens);
ModuleRecord final_norm_record(const bridge::ModelConfig& c, int64_t tokens);
ModuleRecord output_record(const bridge::ModelConfig& c, int64_t vocab_rows, int64_t tokens);

// Fills the statistics of `record` from its output values.
void set_output_stats(ModuleRecord* record, const float* output, size_t count);

// One JSON object (one line of the JSONL file): module, input_shape, output_shape, weights, dtype, min, max,
// mean, abs_sum.
json::Value to_json(const ModuleRecord& record);

}  // namespace mb::engine
