// Which families mbridge converts, and which one a config.json belongs to.
#pragma once

#include <string>
#include <vector>

#include "bridge/family.h"
#include "io/hf_config.h"

namespace mb::bridge {

// Every family defined in src/bridge/models/ (each file's `const Family& NAME_family()`), by name.
const std::vector<const Family*>& all_families();
const Family* find_family(const std::string& name);

struct Detection {
  const Family* family = nullptr;  // null when unsupported
  std::string reason;              // why not, when family is null
};
// By "architectures" first, then by "model_type".
Detection detect_family(const HfConfig& config);

// The ModelConfig of a Hugging Face config (detects the family; throws kUnsupported with the reason).
ModelConfig model_config_from_hf(const HfConfig& config);

}  // namespace mb::bridge
