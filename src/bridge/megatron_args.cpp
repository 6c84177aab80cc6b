#include "bridge/megatron_args.h"

#include <cmath>

#include "bridge/registry.h"
#include "core/error.h"
#include "io/megatron_legacy.h"

namespace mb::bridge {

namespace {

// Megatron-LM's --moe-layer-freq after parsing: 1 (every layer MoE), or a list with 1 for MoE and 0 for dense
pickle::Node* moe_layer_freq(pickle::Document& d, const ModelConfig& c) {
  if (c.moe_layers.empty()) return d.integer(1);
  std::vector<pickle::Node*> pattern;
  for (bool m : c.moe_layers) pattern.push_back(d.integer(m ? 1 : 0));
  return d.list(std::move(pattern));
}

// --window-size (left, right): a query sees left + 1 positions; --window-attn-skip-freq: which layers slide
pickle::Node* window_size(pickle::Document& d, const ModelConfig& c) {
  if (c.sliding_window <= 0) return d.none();
  return d.tuple({d.integer(c.sliding_window - 1), d.integer(0)});
}

pickle::Node* window_layers(pickle::Document& d, const ModelConfig& c) {
  if (c.sliding_window <= 0) return d.none();
  std::vector<pickle::Node*> pattern;
  for (bool s : c.sliding_layers) pattern.push_back(d.integer(s ? 1 : 0));
  return d.list(std::move(pattern));
}

// --mrope-section as a list of ints
pickle::Node* mrope_list(pickle::Document& d, const ModelConfig& c) {
  std::vector<pickle::Node*> items;
  for (int64_t x : c.mrope_section) items.push_back(d.integer(x));
  return d.list(items);
}

}  // namespace

pickle::Node* make_megatron_args(pickle::Document& d, const ModelConfig& c, const ParallelLayout& L,
                                 int64_t padded_vocab, const std::string& ckpt_format, int64_t iteration) {
  auto i = [&](int64_t v) { return d.integer(v); };
  auto b = [&](bool v) { return d.boolean(v); };
  auto f = [&](double v) { return d.number(v); };
  auto s = [&](const std::string& v) { return d.string(v); };
  auto none = [&] { return d.none(); };
  const DType dtype = c.dtype.value_or(DType::BF16);
  const RopeScaling& r = c.rope_scaling;
  const bool yarn = c.mla && r.type == "yarn";
  std::vector<std::pair<std::string, pickle::Node*>> a = {
      {"num_layers", i(c.num_layers)},
      {"hidden_size", i(c.hidden_size)},
      // an MoE model's dense layers (DeepSeek's first ones) have ffn_hidden_size, its experts moe_ffn_hidden_size
      {"ffn_hidden_size", i(c.is_moe() && !c.mixed_layers() ? c.moe_ffn_hidden_size : c.ffn_hidden_size)},
      {"num_attention_heads", i(c.num_attention_heads)},
      {"group_query_attention", b(c.num_query_groups != c.num_attention_heads)},
      {"num_query_groups", i(c.num_query_groups)},
      {"kv_channels", i(c.kv_channels)},
      {"max_position_embeddings", i(c.max_position_embeddings)},
      {"seq_length", i(c.max_position_embeddings)},
      {"position_embedding_type", s(c.learned_positions ? "learned_absolute" : !c.mrope_section.empty() ? "mrope" : "rope")},
      {"mrope_section", c.mrope_section.empty() ? none() : mrope_list(d, c)},
      {"use_rotary_position_embeddings", b(!c.learned_positions)},
      {"rotary_base", i(static_cast<int64_t>(std::llround(c.rotary_base)))},
      {"rotary_percent", f(1.0)},
      {"use_rope_scaling", b(c.rope_scaling.type == "llama3")},
      {"rope_scaling_factor", f(c.rope_scaling.factor.value_or(8.0))},
      {"window_size", window_size(d, c)},
      {"window_attn_skip_freq", window_layers(d, c)},
      {"normalization", s(c.layer_norm ? "LayerNorm" : "RMSNorm")},
      {"norm_epsilon", f(c.norm_epsilon)},
      // GeGLU (Gemma) has no Megatron-LM argument: swiglu is off and the transformer config says the rest.
      // A plain MLP's tanh-approximated GELU (GPT-2's gelu_new) is --openai-gelu; the exact one the default.
      {"swiglu", b(c.mlp_activation == "silu")},
      {"openai_gelu", b(!c.gated_mlp && c.mlp_activation == "gelu_tanh")},
      {"apply_layernorm_1p", b(c.norm_one_centered)},
      {"apply_residual_connection_post_layernorm", b(c.residual_after_norm)},
      {"bert_binary_head", b(false)},
      {"untie_embeddings_and_output_weights", b(!c.tied_embeddings)},
      {"add_bias_linear", b(c.linear_bias)},
      {"add_qkv_bias", b(c.qkv_bias)},
      {"qk_layernorm", b(c.qk_layernorm || c.mla)},  // MLA: its latents' norms
      {"num_experts", c.is_moe() ? i(c.num_experts) : none()},
      {"moe_router_topk", i(c.is_moe() ? c.moe_router_topk : 2)},
      {"moe_ffn_hidden_size", c.is_moe() ? i(c.moe_ffn_hidden_size) : none()},
      {"moe_router_pre_softmax", b(c.is_moe() && !c.moe_renormalize)},
      {"moe_layer_freq", moe_layer_freq(d, c)},
      {"moe_shared_expert_intermediate_size", c.moe_shared_expert_ffn > 0 ? i(c.moe_shared_expert_ffn) : none()},
      {"moe_router_score_function", s(c.moe_score_function)},
      {"moe_router_enable_expert_bias", b(c.moe_expert_bias)},
      {"moe_router_num_groups", c.moe_router_num_groups > 0 ? i(c.moe_router_num_groups) : none()},
      {"moe_router_group_topk", c.moe_router_num_groups > 0 ? i(c.moe_router_group_topk) : none()},
      {"moe_router_topk_scaling_factor", c.moe_router_topk_scaling ? f(*c.moe_router_topk_scaling) : none()},
      // multi-latent attention (Megatron-LM's defaults where the model has none)
      {"multi_latent_attention", b(c.mla)},
      {"q_lora_rank", c.mla && c.q_lora_rank > 0 ? i(c.q_lora_rank) : none()},
      {"kv_lora_rank", i(c.mla ? c.kv_lora_rank : 32)},
      {"qk_head_dim", i(c.mla ? c.qk_head_dim : 128)},
      {"qk_pos_emb_head_dim", i(c.mla ? c.qk_pos_emb_head_dim : 64)},
      {"v_head_dim", i(c.mla ? c.v_head_dim : 128)},
      // its rotary embedding: yarn as MLATransformerConfig names it (Megatron-LM has flags for the factor and the
      // two mscales; the other three are written under their config names, which it copies into the config)
      {"rope_type", c.mla ? s(yarn ? "yarn" : "rope") : none()},
      {"rotary_scaling_factor", f(yarn ? r.factor.value_or(1.0) : 1.0)},
      {"mscale", f(yarn ? r.mscale.value_or(1.0) : 1.0)},
      {"mscale_all_dim", f(yarn ? r.mscale_all_dim.value_or(0.0) : 0.0)},
      {"original_max_position_embeddings",
       yarn ? i(r.original_max_position_embeddings.value_or(c.max_position_embeddings)) : none()},
      {"beta_fast", yarn ? f(r.beta_fast.value_or(32.0)) : none()},
      {"beta_slow", yarn ? f(r.beta_slow.value_or(1.0)) : none()},
      // the Transformer Engine spec's expert names are TEGroupedMLP's (mlp.experts.linear_fc1.weightE), which
      // Megatron builds only with --moe-grouped-gemm (gpt_layer_specs.py); the local spec's are SequentialMLP's
      {"moe_grouped_gemm", b(c.is_moe() && L.spec == MegatronSpec::kTransformerEngine)},
      {"tensor_model_parallel_size", i(L.tp)},
      {"pipeline_model_parallel_size", i(L.pp)},
      {"virtual_pipeline_model_parallel_size", L.vpp > 1 ? i(L.vpp) : none()},
      {"expert_model_parallel_size", i(L.ep)},
      {"transformer_impl", s(L.spec == MegatronSpec::kLocal ? "local" : "transformer_engine")},
      {"vocab_size", i(c.vocab_size)},
      {"padded_vocab_size", i(padded_vocab)},
      {"make_vocab_size_divisible_by", i(L.vocab_divisible_by)},
      {"tokenizer_type", s("HuggingFaceTokenizer")},
      {"params_dtype", d.dtype(dtype)},
      {"bf16", b(dtype == DType::BF16)},
      {"fp16", b(dtype == DType::F16)},
      {"ckpt_format", s(ckpt_format)},
      {"use_mcore_models", b(true)},
      {"iteration", i(iteration)},
      {"consumed_train_samples", i(0)},
      {"consumed_valid_samples", i(0)},
  };
  return make_namespace(d, a);
}

namespace {

const pickle::Node* attr(const pickle::Node* args, const char* name) {
  const pickle::Node* v = pickle::object_attr(args, name);
  return v && v->kind != pickle::Kind::kNone ? v : nullptr;
}

int64_t int_attr(const pickle::Node* args, const char* name, int64_t fallback, const std::string& src) {
  const pickle::Node* v = attr(args, name);
  return v ? pickle::as_int(v, src, std::string("args.") + name) : fallback;
}

double num_attr(const pickle::Node* args, const char* name, double fallback, const std::string& src) {
  const pickle::Node* v = attr(args, name);
  return v ? pickle::as_number(v, src, std::string("args.") + name) : fallback;
}

bool bool_attr(const pickle::Node* args, const char* name, bool fallback, const std::string& src) {
  const pickle::Node* v = attr(args, name);
  return v ? pickle::as_bool(v, src, std::string("args.") + name) : fallback;
}

// Multi-latent attention's rotary embedding: yarn unless --rope-type rope (Megatron-Core's MLA default), with
// Megatron's fixed original context, betas and mscales where the args have none; a factor of 1 is plain rope.
void read_mla_rope(const pickle::Node* args, const std::string& src, ModelConfig* c) {
  const pickle::Node* type = attr(args, "rope_type");
  const std::string name = type ? pickle::as_string(type, src, "args.rope_type") : "yarn";
  const double factor = num_attr(args, "rotary_scaling_factor", 1.0, src);
  if (name != "yarn" || factor <= 1.0) return;
  RopeScaling& r = c->rope_scaling;
  r.type = "yarn";
  r.factor = factor;
  r.original_max_position_embeddings = int_attr(args, "original_max_position_embeddings", 4096, src);
  r.beta_fast = num_attr(args, "beta_fast", 32.0, src);
  r.beta_slow = num_attr(args, "beta_slow", 1.0, src);
  r.mscale = num_attr(args, "mscale", 1.0, src);
  r.mscale_all_dim = num_attr(args, "mscale_all_dim", 0.0, src);
}

// DeepSeek's routing arguments and its dense/MoE layer pattern (an int: every n-th layer MoE; a list: per layer)
void read_moe_routing(const pickle::Node* args, const std::string& src, ModelConfig* c) {
  if (const pickle::Node* freq = attr(args, "moe_layer_freq"); freq && freq->kind == pickle::Kind::kList) {
    for (const pickle::Node* x : freq->items) c->moe_layers.push_back(pickle::as_int(x, src, "args.moe_layer_freq") != 0);
  } else if (const int64_t every = int_attr(args, "moe_layer_freq", 1, src); every != 1) {
    if (every < 1) fail_format(src, "args.moe_layer_freq ", every, " is not positive");
    for (int64_t l = 0; l < c->num_layers; ++l) c->moe_layers.push_back(l % every == 0);
  }
  c->moe_shared_expert_ffn = int_attr(args, "moe_shared_expert_intermediate_size", 0, src);
  if (const pickle::Node* f = attr(args, "moe_router_score_function"))
    c->moe_score_function = pickle::as_string(f, src, "args.moe_router_score_function");
  c->moe_expert_bias = bool_attr(args, "moe_router_enable_expert_bias", false, src);
  c->moe_router_num_groups = int_attr(args, "moe_router_num_groups", 0, src);
  c->moe_router_group_topk = int_attr(args, "moe_router_group_topk", 0, src);
  if (attr(args, "moe_router_topk_scaling_factor"))
    c->moe_router_topk_scaling = num_attr(args, "moe_router_topk_scaling_factor", 1.0, src);
}

// Megatron-Core's sliding window (is_layer_window_attention): window_size (left, right) on the layers that
// window_attn_skip_freq names (none given: every layer; an int n: all but every n-th; a list: 1 where it slides)
void read_window(const pickle::Node* args, const std::string& src, ModelConfig* c) {
  const pickle::Node* size = attr(args, "window_size");
  if (!size) return;
  if ((size->kind != pickle::Kind::kTuple && size->kind != pickle::Kind::kList) || size->items.size() != 2)
    fail_format(src, "args.window_size is not a (left, right) pair");
  const int64_t left = pickle::as_int(size->items[0], src, "args.window_size");
  const int64_t right = pickle::as_int(size->items[1], src, "args.window_size");
  if (left < 0) return;  // (-1, -1): no window
  if (right != 0) fail(Status::kUnsupported, src, ": args.window_size (", left, ", ", right, ") looks ahead of the query");
  c->sliding_window = left + 1;
  const pickle::Node* freq = attr(args, "window_attn_skip_freq");
  for (int64_t l = 0; l < c->num_layers; ++l) {
    bool slides = true;
    if (freq && freq->kind == pickle::Kind::kList) {
      if (freq->items.size() != static_cast<size_t>(c->num_layers))
        fail_format(src, "args.window_attn_skip_freq has ", freq->items.size(), " entries for ", c->num_layers, " layers");
      slides = pickle::as_int(freq->items[static_cast<size_t>(l)], src, "args.window_attn_skip_freq") != 0;
    } else if (freq) {
      const int64_t every = pickle::as_int(freq, src, "args.window_attn_skip_freq");
      if (every < 1) fail_format(src, "args.window_attn_skip_freq ", every, " is not positive");
      slides = (l + 1) % every != 0;
    }
    c->sliding_layers.push_back(slides);
  }
}

}  // namespace

ModelConfig model_config_from_args(const pickle::Node* args, const std::string& family, const std::string& src) {
  if (!args || args->kind != pickle::Kind::kObject)
    fail(Status::kNotFound, src, ": the checkpoint has no Megatron args; pass the model's config.json (--hf-model)");
  ModelConfig c;
  c.num_layers = int_attr(args, "num_layers", 0, src);
  c.hidden_size = int_attr(args, "hidden_size", 0, src);
  c.num_attention_heads = int_attr(args, "num_attention_heads", 0, src);
  c.num_query_groups = bool_attr(args, "group_query_attention", false, src)
                           ? int_attr(args, "num_query_groups", c.num_attention_heads, src)
                           : c.num_attention_heads;
  c.kv_channels = int_attr(args, "kv_channels", c.num_attention_heads ? c.hidden_size / c.num_attention_heads : 0, src);
  c.max_position_embeddings = int_attr(args, "max_position_embeddings", 0, src);
  c.norm_epsilon = num_attr(args, "norm_epsilon", 1e-5, src);
  c.rotary_base = num_attr(args, "rotary_base", 10000, src);
  if (bool_attr(args, "use_rope_scaling", false, src)) {
    c.rope_scaling.type = "llama3";
    c.rope_scaling.factor = num_attr(args, "rope_scaling_factor", 8.0, src);
    // Megatron-Core's own llama3 scaling constants (megatron/core/models/common/embeddings/rope_utils.py)
    c.rope_scaling.low_freq_factor = 1.0;
    c.rope_scaling.high_freq_factor = 4.0;
    c.rope_scaling.original_max_position_embeddings = 8192;
  }
  read_window(args, src, &c);
  c.tied_embeddings = !bool_attr(args, "untie_embeddings_and_output_weights", false, src);
  c.qkv_bias = bool_attr(args, "add_qkv_bias", false, src);
  c.qk_layernorm = bool_attr(args, "qk_layernorm", false, src);
  c.num_experts = int_attr(args, "num_experts", 0, src);
  const int64_t ffn = int_attr(args, "ffn_hidden_size", 0, src);
  if (c.num_experts > 0) {
    c.moe_router_topk = int_attr(args, "moe_router_topk", 2, src);
    c.moe_ffn_hidden_size = int_attr(args, "moe_ffn_hidden_size", ffn, src);
    c.moe_renormalize = !bool_attr(args, "moe_router_pre_softmax", false, src);
    read_moe_routing(args, src, &c);
    if (c.mixed_layers()) c.ffn_hidden_size = ffn;  // the dense layers'
  } else {
    c.ffn_hidden_size = ffn;
  }
  if (bool_attr(args, "multi_latent_attention", false, src)) {
    c.mla = true;
    c.q_lora_rank = int_attr(args, "q_lora_rank", 0, src);
    c.kv_lora_rank = int_attr(args, "kv_lora_rank", 32, src);
    c.qk_head_dim = int_attr(args, "qk_head_dim", 128, src);
    c.qk_pos_emb_head_dim = int_attr(args, "qk_pos_emb_head_dim", 64, src);
    c.v_head_dim = int_attr(args, "v_head_dim", 128, src);
    c.num_query_groups = c.num_attention_heads;
    c.kv_channels = c.q_head_dim();
    c.qk_layernorm = false;  // (the flag meant MLA's latent norms, which are part of MLA here)
    read_mla_rope(args, src, &c);
  }
  c.vocab_size = int_attr(args, "vocab_size", int_attr(args, "padded_vocab_size", 0, src), src);
  if (const pickle::Node* dt = attr(args, "params_dtype"); dt && dt->kind == pickle::Kind::kDType) c.dtype = dt->dtype;
  // Megatron GPT (GPT-2's layout): LayerNorm, learned positions, biases, a plain GELU MLP
  const pickle::Node* positions = attr(args, "position_embedding_type");
  c.learned_positions = positions && positions->kind == pickle::Kind::kString && positions->text == "learned_absolute";
  const pickle::Node* norm = attr(args, "normalization");
  c.layer_norm = !norm || (norm->kind == pickle::Kind::kString && norm->text == "LayerNorm");
  c.linear_bias = bool_attr(args, "add_bias_linear", true, src);
  c.gated_mlp = bool_attr(args, "swiglu", false, src);
  if (!c.gated_mlp) c.mlp_activation = bool_attr(args, "openai_gelu", false, src) ? "gelu_tanh" : "gelu";
  const bool gpt = c.learned_positions && c.layer_norm && c.linear_bias && !c.gated_mlp;
  if (!gpt && (c.linear_bias || c.layer_norm || c.learned_positions || !c.gated_mlp))
    fail(Status::kUnsupported, src, ": a Megatron model with ", c.layer_norm ? "LayerNorm" : "RMSNorm", ", ",
         c.learned_positions ? "learned" : "rotary", " positions, ", c.linear_bias ? "" : "no ", "linear biases and a ",
         c.gated_mlp ? "gated" : "plain",
         " MLP has no Hugging Face family here (GPT-2's is LayerNorm, learned, biases, plain)");
  if (gpt) c.qkv_bias = true;

  std::string name = family;
  if (name.empty()) {
    if (gpt) name = "gpt2";
    else if (c.mla) name = "deepseek_v3";
    else if (c.is_moe()) name = c.qk_layernorm ? "qwen3_moe" : "mixtral";
    else if (c.qk_layernorm) name = "qwen3";
    else if (c.qkv_bias) name = "qwen2";
    else name = "llama";
  }
  const Family* f = find_family(name);
  if (!f) fail(Status::kInvalidArgument, "unknown family '", name, "' (see mbridge list)");
  c.family = f->name;
  c.hf_architecture = f->architectures.at(0);
  validate(c, src);
  return c;
}

ParallelLayout layout_from_args(const pickle::Node* args) {
  ParallelLayout L;
  if (!args) return L;
  L.tp = static_cast<int>(int_attr(args, "tensor_model_parallel_size", 1, ""));
  L.pp = static_cast<int>(int_attr(args, "pipeline_model_parallel_size", 1, ""));
  L.vpp = static_cast<int>(int_attr(args, "virtual_pipeline_model_parallel_size", 1, ""));
  L.ep = static_cast<int>(int_attr(args, "expert_model_parallel_size", 1, ""));
  L.vocab_divisible_by = int_attr(args, "make_vocab_size_divisible_by", 1, "");
  const pickle::Node* impl = attr(args, "transformer_impl");
  if (impl && impl->kind == pickle::Kind::kString && impl->text == "local") L.spec = MegatronSpec::kLocal;
  return L;
}

}  // namespace mb::bridge
