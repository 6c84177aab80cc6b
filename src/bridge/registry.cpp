#include "bridge/registry.h"

#include "core/error.h"

namespace mb::bridge {

const std::vector<const Family*>& all_families() {
  static const std::vector<const Family*> families = {
      &llama_family(), &mistral_family(), &mixtral_family(), &qwen2_family(),
      &qwen3_family(), &qwen3_moe_family(), &minicpm_family(),
  };
  return families;
}

const Family* find_family(const std::string& name) {
  for (const Family* f : all_families())
    if (f->name == name) return f;
  return nullptr;
}

Detection detect_family(const HfConfig& config) {
  for (const std::string& arch : config.architectures)
    for (const Family* f : all_families())
      for (const std::string& a : f->architectures)
        if (a == arch) return {f, ""};
  for (const Family* f : all_families())
    for (const std::string& t : f->model_types)
      if (t == config.model_type) return {f, ""};
  std::string known;
  for (const Family* f : all_families())
    for (const std::string& a : f->architectures) known += (known.empty() ? "" : ", ") + a;
  std::string what = config.architectures.empty() ? "model_type '" + config.model_type + "'"
                                                  : "architecture '" + config.architectures[0] + "'";
  return {nullptr, what + " is not supported (supported: " + known + ")"};
}

ModelConfig model_config_from_hf(const HfConfig& config) {
  Detection d = detect_family(config);
  if (!d.family) fail(Status::kUnsupported, config.source, ": ", d.reason);
  ModelConfig c = d.family->config_from_hf(config);
  validate(c, config.source);
  return c;
}

}  // namespace mb::bridge
