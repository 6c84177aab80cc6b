// Writes full Megatron parameters as a Hugging Face folder: each parameter split into its Hugging Face
// tensors by the family's rules and streamed into sharded safetensors (model.safetensors.index.json),
// plus config.json (the stored text when there is one, else written from the model description) and the
// assets (generation_config.json, tokenizer files). Nothing is visible until finish(); a failure removes it.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bridge/family.h"
#include "core/tensor.h"
#include "io/safetensors_sharded.h"

namespace mb::bridge {

struct HfTarget {
  ShardOptions shards;
  std::optional<DType> dtype;  // default: each tensor keeps its Megatron dtype
  bool fsync = true;
};

class HfWriter {
 public:
  // dtype_of gives the dtype each parameter arrives with (the safetensors headers are laid out first).
  HfWriter(std::string dir, const Family& family, const ModelConfig& config, int64_t vocab_rows,
           const std::function<DType(const ParamInfo&)>& dtype_of, const HfTarget& target,
           std::string config_text, std::vector<std::string> assets);
  ~HfWriter();
  void write(const ParamInfo& info, const Tensor& full);
  std::vector<std::string> finish();

 private:
  std::string dir_;
  const Family& family_;
  ModelConfig config_;
  HfTarget target_;
  std::string config_text_;
  std::vector<std::string> assets_;
  std::unique_ptr<SafetensorsFolderWriter> writer_;
  bool finished_ = false;
};

}  // namespace mb::bridge
