#include "bridge/model_config.h"

#include <cmath>

#include "core/error.h"

namespace mb::bridge {

double yarn_mscale(double scale, double mscale) { return scale <= 1 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0; }

double ModelConfig::attention_scale() const {
  double scale = 1.0 / std::sqrt(query_pre_attn_scalar ? *query_pre_attn_scalar : static_cast<double>(q_head_dim()));
  const RopeScaling& r = rope_scaling;
  if (mla && r.type == "yarn" && r.mscale_all_dim && *r.mscale_all_dim != 0) {
    const double m = yarn_mscale(r.factor.value_or(1.0), *r.mscale_all_dim);
    scale *= m * m;
  }
  return scale;
}

bool ModelConfig::is_moe_layer(int64_t layer) const {
  if (!is_moe()) return false;
  if (moe_layers.empty()) return true;
  return layer >= 0 && layer < static_cast<int64_t>(moe_layers.size()) && moe_layers[static_cast<size_t>(layer)];
}

bool ModelConfig::mixed_layers() const {
  if (!is_moe() || moe_layers.empty()) return false;
  for (bool m : moe_layers)
    if (!m) return true;
  return false;
}

int64_t ModelConfig::attention_window(int64_t layer) const {
  const bool slides = sliding_window > 0 && layer >= 0 && layer < static_cast<int64_t>(sliding_layers.size()) &&
                      sliding_layers[static_cast<size_t>(layer)];
  return slides ? sliding_window : 0;
}

json::Value megatron_transformer_config(const ModelConfig& c) {
  json::Value v = json::Value::object();
  v.set("num_layers", c.num_layers);
  v.set("hidden_size", c.hidden_size);
  v.set("ffn_hidden_size", c.ffn_hidden_size);
  v.set("num_attention_heads", c.num_attention_heads);
  v.set("num_query_groups", c.num_query_groups);
  v.set("kv_channels", c.kv_channels);
  v.set("normalization", c.layer_norm ? "LayerNorm" : "RMSNorm");
  v.set("layernorm_epsilon", c.norm_epsilon);
  v.set("gated_linear_unit", c.gated_mlp);
  // Megatron-Core's activation functions: fast_gelu is the tanh approximation, gelu the exact one
  v.set("activation_func", c.mlp_activation == "gelu_tanh" ? "fast_gelu" : c.mlp_activation);
  v.set("layernorm_zero_centered_gamma", c.norm_one_centered);
  v.set("add_bias_linear", c.linear_bias);
  v.set("add_qkv_bias", c.qkv_bias);
  // (under multi-latent attention: the q and kv latents' norms, which DeepSeek always has)
  v.set("qk_layernorm", c.qk_layernorm || c.mla);
  v.set("position_embedding_type", c.learned_positions ? "learned_absolute" : "rope");
  v.set("rotary_base", c.rotary_base);
  v.set("rotary_percent", 1.0);
  // Megatron-Core's GPTModel knows llama3 scaling by factor alone and linear scaling as interpolation; the
  // full Hugging Face rope parameters are kept in "rope_scaling_hf" so nothing is lost.
  const RopeScaling& r = c.rope_scaling;
  v.set("rope_scaling", r.type == "llama3");
  if (r.type == "llama3") v.set("rope_scaling_factor", r.factor.value_or(8.0));
  if (r.type == "linear" && r.factor) v.set("seq_len_interpolation_factor", *r.factor);
  if (!r.raw.is_null()) v.set("rope_scaling_hf", r.raw);
  v.set("share_embeddings_and_output_weights", c.tied_embeddings);
  v.set("vocab_size", c.vocab_size);
  v.set("max_position_embeddings", c.max_position_embeddings);
  if (c.is_moe()) {
    v.set("num_moe_experts", c.num_experts);
    v.set("moe_router_topk", c.moe_router_topk);
    v.set("moe_ffn_hidden_size", c.moe_ffn_hidden_size);
    // Megatron: pre-softmax over all experts (then top-k) is the *non*-renormalised variant
    v.set("moe_router_pre_softmax", !c.moe_renormalize);
    if (!c.moe_layers.empty()) {  // 1: MoE, 0: dense, layer by layer
      json::Value pattern = json::Value::array();
      for (bool m : c.moe_layers) pattern.push(int64_t{m ? 1 : 0});
      v.set("moe_layer_freq", std::move(pattern));
    }
    if (c.moe_shared_expert_ffn > 0) v.set("moe_shared_expert_intermediate_size", c.moe_shared_expert_ffn);
    v.set("moe_router_score_function", c.moe_score_function);
    v.set("moe_router_enable_expert_bias", c.moe_expert_bias);
    if (c.moe_router_num_groups > 0) {
      v.set("moe_router_num_groups", c.moe_router_num_groups);
      v.set("moe_router_group_topk", c.moe_router_group_topk);
    }
    if (c.moe_router_topk_scaling) v.set("moe_router_topk_scaling_factor", *c.moe_router_topk_scaling);
  }
  if (c.mla) {  // MLATransformerConfig
    v.set("multi_latent_attention", true);
    v.set("q_lora_rank", c.q_lora_rank > 0 ? json::Value(c.q_lora_rank) : json::Value());
    v.set("kv_lora_rank", c.kv_lora_rank);
    v.set("qk_head_dim", c.qk_head_dim);
    v.set("qk_pos_emb_head_dim", c.qk_pos_emb_head_dim);
    v.set("v_head_dim", c.v_head_dim);
    // Megatron-Core's MLA: yarn with the config's values (its softmax scale takes mscale_all_dim as
    // transformers' does), plain rope otherwise
    if (r.type == "yarn") {
      v.set("rope_type", "yarn");
      v.set("rotary_scaling_factor", r.factor.value_or(1.0));
      v.set("original_max_position_embeddings", r.original_max_position_embeddings.value_or(c.max_position_embeddings));
      v.set("beta_fast", r.beta_fast.value_or(32.0));
      v.set("beta_slow", r.beta_slow.value_or(1.0));
      v.set("mscale", r.mscale.value_or(1.0));
      v.set("mscale_all_dim", r.mscale_all_dim.value_or(0.0));
    } else {
      v.set("rope_type", "rope");
    }
  }
  if (!c.mrope_section.empty()) {  // Qwen2.5-VL: Megatron-Bridge's provider fields
    v.set("position_embedding_type", "mrope");
    json::Value s = json::Value::array();
    for (int64_t x : c.mrope_section) s.push(x);
    v.set("mrope_section", std::move(s));
    if (const json::Value* vc = c.hf_config.is_object() ? c.hf_config.find("vision_config") : nullptr)
      v.set("vision_config", *vc);
  }
  if (c.scale_emb) v.set("scale_emb", *c.scale_emb);
  if (c.scale_depth) {
    v.set("scale_depth", *c.scale_depth);
    // the residual branches are scaled by scale_depth / sqrt(num_layers) (MiniCPM)
  }
  if (c.dim_model_base) v.set("dim_model_base", *c.dim_model_base);
  // BERT (Megatron-Core BertModel): token types, and each branch's residual taken after its norm (the field
  // Megatron-LM's legacy layers honoured; Megatron-Core's BertModel needs norms that return their output as
  // the residual to compute it)
  if (c.encoder) {
    v.set("model_type", "bert");
    v.set("num_tokentypes", c.num_token_types);
    v.set("apply_residual_connection_post_layernorm", c.residual_after_norm);
  }
  // Gemma-2, with Megatron-Bridge's Gemma2ModelProvider field names where it has them. Megatron-Core's
  // window_size (left, right) lets a query see left + 1 positions, and window_attn_skip_freq lists which
  // layers slide (1) in layer order.
  if (c.sandwich_norms) v.set("post_layernorms", true);
  if (c.query_pre_attn_scalar) {
    v.set("query_pre_attn_scalar", *c.query_pre_attn_scalar);
    v.set("softmax_scale", c.attention_scale());
  }
  if (c.attn_logit_softcapping) v.set("attn_logit_softcapping", *c.attn_logit_softcapping);
  if (c.final_logit_softcapping) v.set("final_logit_softcapping", *c.final_logit_softcapping);
  if (c.sliding_window > 0) {
    json::Value window = json::Value::array(), pattern = json::Value::array();
    window.push(c.sliding_window - 1);
    window.push(int64_t{0});
    for (bool s : c.sliding_layers) pattern.push(int64_t{s ? 1 : 0});
    v.set("window_size", std::move(window));
    v.set("window_attn_skip_freq", std::move(pattern));
  }
  // LLaVA: Megatron-Core's LLaVAModel takes the tower's and the projector's TransformerConfigs besides this one
  // (as Megatron-LM's examples/multimodal build them for CLIP: no fused bias activation, exact GELU)
  if (c.vision) {
    json::Value tower = megatron_transformer_config(*c.vision);
    tower.erase("vocab_size");
    tower.erase("rotary_base");
    tower.erase("rotary_percent");
    tower.erase("rope_scaling");
    tower.erase("share_embeddings_and_output_weights");
    for (const char* bert_only : {"model_type", "num_tokentypes", "apply_residual_connection_post_layernorm"})
      tower.erase(bert_only);
    tower.set("vision_model_type", "clip");
    tower.set("class_token_len", int64_t{1});
    tower.set("img_h", c.image_size);
    tower.set("img_w", c.image_size);
    tower.set("patch_dim", c.patch_size);
    tower.set("bias_activation_fusion", false);
    v.set("vision_config", std::move(tower));
    json::Value projection = json::Value::object();
    projection.set("projector_type", "mlp");
    projection.set("hidden_size", c.hidden_size);
    projection.set("ffn_hidden_size", c.hidden_size);
    projection.set("activation_func", c.projector_activation);
    projection.set("add_bias_linear", c.projector_bias);
    projection.set("bias_activation_fusion", false);
    v.set("vision_projection_config", std::move(projection));
    v.set("drop_vision_class_token", true);
    v.set("img_seq_len", c.image_tokens());
    v.set("image_token_index", c.image_token_index);
  }
  if (c.dtype) {
    v.set("params_dtype", dtype_torch_name(*c.dtype));
    v.set("bf16", *c.dtype == DType::BF16);
    v.set("fp16", *c.dtype == DType::F16);
  }
  return v;
}

void validate(const ModelConfig& c, const std::string& src) {
  auto need = [&](bool ok, const char* what) {
    if (!ok) fail_format(src, what);
  };
  need(c.num_layers > 0, "num_hidden_layers must be positive");
  need(c.hidden_size > 0, "hidden_size must be positive");
  need(c.num_attention_heads > 0, "num_attention_heads must be positive");
  need(c.num_query_groups > 0 && c.num_attention_heads % c.num_query_groups == 0,
       "num_key_value_heads must divide num_attention_heads");
  need(c.kv_channels > 0, "head_dim must be positive");
  need(c.vocab_size > 0, "vocab_size must be positive");
  need(c.is_moe() || c.ffn_hidden_size > 0, "intermediate_size must be positive");
  need(!c.is_moe() || (c.moe_ffn_hidden_size > 0 && c.moe_router_topk > 0 && c.moe_router_topk <= c.num_experts),
       "mixture-of-experts sizes (experts, top-k, expert intermediate size) are inconsistent");
  need(c.num_layers < (1 << 20) && c.num_experts < (1 << 20), "absurd layer or expert count");
  need(!c.query_pre_attn_scalar || *c.query_pre_attn_scalar > 0, "query_pre_attn_scalar must be positive");
  need(!c.attn_logit_softcapping || *c.attn_logit_softcapping > 0, "attn_logit_softcapping must be positive");
  need(!c.final_logit_softcapping || *c.final_logit_softcapping > 0, "final_logit_softcapping must be positive");
  need(c.sliding_window >= 0, "sliding_window must not be negative");
  need(!c.learned_positions || c.max_position_embeddings > 0,
       "learned position embeddings need max_position_embeddings");
  need(c.mlp_activation == "silu" || c.mlp_activation == "gelu_tanh" || c.mlp_activation == "gelu",
       "unknown MLP activation");
  need(c.sliding_layers.empty() || static_cast<int64_t>(c.sliding_layers.size()) == c.num_layers,
       "layer_types must name every layer");
  need(c.moe_layers.empty() || static_cast<int64_t>(c.moe_layers.size()) == c.num_layers,
       "the dense/MoE layer pattern must name every layer");
  need(!c.mixed_layers() || c.ffn_hidden_size > 0, "dense layers need intermediate_size");
  need(!c.mla || (c.q_lora_rank >= 0 && c.kv_lora_rank > 0 && c.qk_head_dim > 0 && c.qk_pos_emb_head_dim > 0 &&
                  c.qk_pos_emb_head_dim % 2 == 0 && c.v_head_dim > 0 && c.num_query_groups == c.num_attention_heads),
       "multi-latent attention needs positive kv_lora_rank, qk_nope_head_dim, an even qk_rope_head_dim and "
       "v_head_dim");
  need(c.moe_score_function == "softmax" || c.moe_score_function == "sigmoid", "unknown router score function");
  need(c.moe_router_num_groups <= 0 ||
           (c.num_experts % c.moe_router_num_groups == 0 && c.moe_router_group_topk > 0 &&
            c.moe_router_group_topk <= c.moe_router_num_groups),
       "n_group must divide the experts and topk_group lie in [1, n_group]");
}

}  // namespace mb::bridge
