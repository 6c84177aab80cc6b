// GPT-2 (GPT2LMHeadModel) <-> Megatron GPT: LayerNorm with biases, learned absolute position embeddings, a
// bias on every linear layer, a plain GELU MLP, tied embeddings. Hugging Face stores GPT-2's linear layers as
// Conv1D, weights [in, out], and fuses q, k and v into one c_attn ([hidden, 3 hidden], q then k then v):
// both are transposed, and c_attn split and interleaved per head as Megatron's linear_qkv wants.
#include "bridge/models/llama_like.h"
#include "bridge/models/plain_block.h"
#include "bridge/registry.h"
#include "core/error.h"

namespace mb::bridge {

namespace {

int64_t int_field(const HfConfig& h, const char* key) {
  const std::optional<int64_t> v = h.integer(key);
  if (!v || *v <= 0) fail_format(h.source, key, " must be a positive integer");
  return *v;
}

ModelConfig gpt2_config(const HfConfig& h) {
  // forward-pass variants transformers has and Megatron GPT does not: refused rather than converted wrong
  if (!h.boolean("scale_attn_weights").value_or(true))
    fail(Status::kUnsupported, h.source, ": GPT-2 with scale_attn_weights false");
  if (h.boolean("scale_attn_by_inverse_layer_idx").value_or(false))
    fail(Status::kUnsupported, h.source, ": GPT-2 with scale_attn_by_inverse_layer_idx");
  if (h.boolean("add_cross_attention").value_or(false))
    fail(Status::kUnsupported, h.source, ": GPT-2 with cross-attention");
  ModelConfig c;
  c.family = "gpt2";
  c.hf_architecture = "GPT2LMHeadModel";
  c.num_layers = int_field(h, "n_layer");
  c.hidden_size = int_field(h, "n_embd");
  c.num_attention_heads = int_field(h, "n_head");
  c.num_query_groups = c.num_attention_heads;
  if (c.hidden_size % c.num_attention_heads)
    fail_format(h.source, "n_embd ", c.hidden_size, " is not a multiple of n_head ", c.num_attention_heads);
  c.kv_channels = c.hidden_size / c.num_attention_heads;
  const json::Value* inner = h.raw.find("n_inner");
  c.ffn_hidden_size = inner && !inner->is_null() ? int_field(h, "n_inner") : 4 * c.hidden_size;
  c.vocab_size = int_field(h, "vocab_size");
  c.max_position_embeddings = int_field(h, "n_positions");
  c.norm_epsilon = h.number("layer_norm_epsilon").value_or(1e-5);
  c.tied_embeddings = h.boolean("tie_word_embeddings").value_or(true);
  set_plain_block(&c, h, "activation_function", "gelu_new");  // gelu_new: GPT-2's own, the tanh GELU
  c.dtype = h.dtype;
  c.hf_config = h.raw;
  return c;
}

json::Value gpt2_hf_config(const ModelConfig& c) {
  json::Value v = hf_config_header("GPT2LMHeadModel", "gpt2");
  v.set("n_layer", c.num_layers);
  v.set("n_embd", c.hidden_size);
  v.set("n_head", c.num_attention_heads);
  v.set("n_inner", c.ffn_hidden_size);
  v.set("n_positions", c.max_position_embeddings);
  v.set("vocab_size", c.vocab_size);
  v.set("layer_norm_epsilon", c.norm_epsilon);
  v.set("activation_function", plain_block_hf_activation(c));
  v.set("tie_word_embeddings", c.tied_embeddings);
  v.set("scale_attn_weights", true);
  if (c.dtype) v.set("dtype", dtype_torch_name(*c.dtype));
  v.set("use_cache", true);
  return v;
}

std::vector<HfMapping> gpt2_mappings() {
  const std::string h = "transformer.h.{layer}.";
  return {
      {ParamKind::kEmbedding, HfRule::kDirect, {"transformer.wte.weight"}},
      {ParamKind::kPositionEmbedding, HfRule::kDirect, {"transformer.wpe.weight"}},
      {ParamKind::kOutput, HfRule::kDirect, {"lm_head.weight"}},
      {ParamKind::kFinalNorm, HfRule::kDirect, {"transformer.ln_f.weight"}},
      {ParamKind::kFinalNormBias, HfRule::kDirect, {"transformer.ln_f.bias"}},
      {ParamKind::kInputNorm, HfRule::kDirect, {h + "ln_1.weight"}},
      {ParamKind::kInputNormBias, HfRule::kDirect, {h + "ln_1.bias"}},
      {ParamKind::kQkv, HfRule::kQkvFused, {h + "attn.c_attn.weight"}},
      {ParamKind::kQkvBias, HfRule::kQkvFused, {h + "attn.c_attn.bias"}},
      {ParamKind::kProj, HfRule::kTransposed, {h + "attn.c_proj.weight"}},
      {ParamKind::kProjBias, HfRule::kDirect, {h + "attn.c_proj.bias"}},
      {ParamKind::kPreMlpNorm, HfRule::kDirect, {h + "ln_2.weight"}},
      {ParamKind::kPreMlpNormBias, HfRule::kDirect, {h + "ln_2.bias"}},
      {ParamKind::kFc1, HfRule::kTransposed, {h + "mlp.c_fc.weight"}},
      {ParamKind::kFc1Bias, HfRule::kDirect, {h + "mlp.c_fc.bias"}},
      {ParamKind::kFc2, HfRule::kTransposed, {h + "mlp.c_proj.weight"}},
      {ParamKind::kFc2Bias, HfRule::kDirect, {h + "mlp.c_proj.bias"}},
  };
}

}  // namespace

const Family& gpt2_family() {
  static const Family f = [] {
    Family f;
    f.name = "gpt2";
    f.description = "GPT-2 / Megatron GPT (LayerNorm, learned positions, biases, GELU MLP)";
    f.architectures = {"GPT2LMHeadModel"};
    f.model_types = {"gpt2"};
    f.config_from_hf = gpt2_config;
    f.hf_config_for = gpt2_hf_config;
    f.mappings = gpt2_mappings();
    // the causal-mask buffers older GPT-2 checkpoints carry
    f.ignored = {"transformer.h.{layer}.attn.bias", "transformer.h.{layer}.attn.masked_bias"};
    return f;
  }();
  return f;
}

}  // namespace mb::bridge
