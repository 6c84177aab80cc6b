// What mbridge records inside a Megatron checkpoint it writes, so that exporting needs no Hugging Face
// source: the config.json (and generation_config.json) text, the family, the layout, the unpadded
// vocabulary, and which tokenizer files were copied into <checkpoint>/mbridge_hf/. It travels as one JSON
// string under the key "mbridge" of the common state (torch_dist) or of every rank file (legacy), so
// Megatron sees only a plain string.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "bridge/model_config.h"
#include "bridge/parallel_layout.h"
#include "io/json.h"

namespace mb::bridge {

constexpr const char* kMetaKey = "mbridge";
constexpr const char* kHfAssetsDir = "mbridge_hf";
// In kHfAssetsDir: Hugging Face tensors no Megatron parameter holds (ParamKind::kCarried), as safetensors.
constexpr const char* kCarriedFileName = "carried.safetensors";

struct CheckpointMeta {
  int version = 1;
  std::string family;
  json::Value hf_config;          // config.json as read
  std::string hf_config_text;     // ... and byte for byte, so an export reproduces the file
  std::vector<std::string> assets;  // files copied into mbridge_hf/ (tokenizer files, generation_config.json)
  ParallelLayout layout;
  int64_t vocab_size = 0;  // before padding
};

std::string meta_to_json(const CheckpointMeta& m);
CheckpointMeta meta_from_json(const std::string& text, const std::string& source);

}  // namespace mb::bridge
