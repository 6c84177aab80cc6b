// Which families mbridge converts, and which one a config.json belongs to.
#pragma once

#include <string>
#include <vector>

#include "bridge/family.h"
#include "io/hf_config.h"

namespace mb::bridge {

// One per file in src/bridge/models/.
const Family& llama_family();
const Family& mistral_family();
const Family& mixtral_family();
const Family& qwen2_family();
const Family& qwen3_family();
const Family& qwen3_moe_family();
const Family& minicpm_family();

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
