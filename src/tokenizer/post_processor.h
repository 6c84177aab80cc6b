// Post-processors of tokenizer.json ("post_processor"): TemplateProcessing (how BOS and EOS are added),
// ByteLevel (offsets only: ids unchanged), RobertaProcessing/BertProcessing (cls ... sep), Sequence.
// Single sequences only; pairs are not needed for generation.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/json.h"

namespace mb {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // With add_special_tokens false, the ids pass through unchanged.
  virtual std::vector<int32_t> process(std::vector<int32_t> ids, bool add_special_tokens) const = 0;
  static std::unique_ptr<PostProcessor> from_json(const json::Value& v, const std::string& source);
};

}  // namespace mb
