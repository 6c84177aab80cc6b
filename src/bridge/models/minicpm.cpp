// MiniCPM (MiniCPM-2B, MiniCPM4): Llama tensors; the muP scales (scale_emb, scale_depth, dim_model_base)
// change the forward pass, not the weights, so they are read from config.json (their defaults differ
// between versions, so none is assumed) and recorded in the Megatron checkpoint.
#include "bridge/models/llama_like.h"
#include "bridge/registry.h"
#include "core/error.h"

namespace mb::bridge {

const Family& minicpm_family() {
  static const Family f = [] {
    Family f;
    f.name = "minicpm";
    f.description = "MiniCPM (muP scales scale_emb / scale_depth / dim_model_base, LongRoPE)";
    f.architectures = {"MiniCPMForCausalLM"};
    f.model_types = {"minicpm"};
    f.config_from_hf = [](const HfConfig& h) {
      ModelConfig c = llama_like_config(h, "minicpm");
      c.scale_emb = h.scale_emb;
      c.scale_depth = h.scale_depth;
      c.dim_model_base = h.dim_model_base;
      if (!c.scale_emb || !c.scale_depth || !c.dim_model_base)
        fail_format(h.source, "MiniCPM config must state scale_emb, scale_depth and dim_model_base");
      return c;
    };
    f.hf_config_for = [](const ModelConfig& c) {
      json::Value v = llama_like_hf_config(c, "MiniCPMForCausalLM", "minicpm");
      if (c.scale_emb) v.set("scale_emb", *c.scale_emb);
      if (c.scale_depth) v.set("scale_depth", *c.scale_depth);
      if (c.dim_model_base) v.set("dim_model_base", *c.dim_model_base);
      return v;
    };
    f.mappings = llama_dense_mappings(false, false);
    f.ignored = llama_ignored();
    return f;
  }();
  return f;
}

}  // namespace mb::bridge
