#include "bridge/models/plain_block.h"

#include "core/error.h"

namespace mb::bridge {

void set_plain_block(ModelConfig* c, const HfConfig& h, const char* key, const char* fallback) {
  const json::Value* v = h.raw.find(key);
  const std::string name = v && v->is_string() ? v->as_string() : fallback;
  if (name == "gelu") c->mlp_activation = "gelu";
  else if (name == "gelu_new" || name == "gelu_pytorch_tanh") c->mlp_activation = "gelu_tanh";
  else
    fail(Status::kUnsupported, h.source, ": ", c->family, " with ", key, " '", name,
         "' (supported: gelu, gelu_new, gelu_pytorch_tanh)");
  c->layer_norm = true;
  c->learned_positions = true;
  c->gated_mlp = false;
  c->linear_bias = true;
  c->qkv_bias = true;
}

const char* plain_block_hf_activation(const ModelConfig& c) {
  return c.mlp_activation == "gelu" ? "gelu" : "gelu_new";
}

}  // namespace mb::bridge
