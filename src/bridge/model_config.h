// The model a conversion works on, in one normalised description both sides derive from: read from a
// Hugging Face config.json (through the family's rules) or from a Megatron checkpoint's args, and turned
// into a Megatron-Core TransformerConfig (as JSON) or back into a Hugging Face config.json.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/dims.h"
#include "core/dtype.h"
#include "io/hf_config.h"
#include "io/json.h"

namespace mb::bridge {

struct ModelConfig {
  std::string family;           // registry name: "llama", "qwen3_moe", ...
  std::string hf_architecture;  // "LlamaForCausalLM"
  int64_t num_layers = 0;
  int64_t hidden_size = 0;
  int64_t ffn_hidden_size = 0;   // dense MLP
  int64_t num_attention_heads = 0;
  int64_t num_query_groups = 0;  // key/value heads
  int64_t kv_channels = 0;       // head dim
  int64_t vocab_size = 0;        // as the Hugging Face model has it
  int64_t max_position_embeddings = 0;
  double norm_epsilon = 1e-6;
  double rotary_base = 10000.0;
  RopeScaling rope_scaling;
  bool tied_embeddings = false;
  bool qkv_bias = false;
  bool qk_layernorm = false;
  // mixture of experts: every layer's MLP is a router plus num_experts gated MLPs
  int64_t num_experts = 0;
  int64_t moe_router_topk = 0;
  int64_t moe_ffn_hidden_size = 0;
  bool moe_renormalize = true;  // top-k probabilities renormalised (Mixtral; Qwen3-MoE norm_topk_prob)
  // Gemma: RMSNorm weights stored as w and applied as (1 + w) (Megatron-Core's zero-centered gamma), and the
  // MLP's activation ("silu": SwiGLU; "gelu_tanh": GELU with the tanh approximation, GeGLU when gated;
  // "gelu": the exact GELU)
  bool norm_one_centered = false;
  std::string mlp_activation = "silu";
  // embeddings multiplied by this (MiniCPM's muP scale_emb; Gemma's sqrt(hidden_size))
  std::optional<double> scale_emb;
  // Gemma-2: "sandwich" norms (each branch's output normalised before the residual add: Hugging Face's
  // post_attention_layernorm / post_feedforward_layernorm), attention scores scaled by 1/sqrt(query_pre_attn_scalar)
  // instead of 1/sqrt(head_dim), scores and final logits soft-capped (cap * tanh(x / cap)), and sliding-window
  // attention on some layers (a position sees itself and the sliding_window - 1 before it)
  bool sandwich_norms = false;
  std::optional<double> query_pre_attn_scalar;
  std::optional<double> attn_logit_softcapping;
  std::optional<double> final_logit_softcapping;
  int64_t sliding_window = 0;
  std::vector<bool> sliding_layers;  // per layer (empty: none slides)
  // GPT-2 / Megatron GPT: LayerNorm (with a bias) instead of RMSNorm, learned absolute position embeddings
  // instead of rotary ones, a plain (not gated) MLP, and a bias on every linear layer (add_bias_linear)
  bool layer_norm = false;
  bool learned_positions = false;
  bool gated_mlp = true;
  bool linear_bias = false;
  // BERT (Megatron-Core BertModel): an encoder (layers under "encoder.", every position sees every other),
  // token-type embeddings, and a masked-LM head (dense, GELU, LayerNorm, then the output layer with a bias).
  // residual_after_norm: each branch adds to its normalised input (Hugging Face's post-LN BERT, which is
  // Megatron-Core's pre-LN layer with norms that return their output as the residual), so every norm moves one
  // slot later than in the Hugging Face names.
  bool encoder = false;
  int64_t num_token_types = 0;
  bool residual_after_norm = false;
  // DeepSeek-V2/V3 multi-latent attention (Megatron-Core's MLATransformerConfig names): queries through a
  // low-rank down projection, its RMSNorm and an up projection (q_lora_rank 0: one q projection); keys and
  // values from one compressed latent of kv_lora_rank (RMSNorm, then up-projected per head) plus one shared
  // rotary key part of qk_pos_emb_head_dim. A query or key head is [qk_head_dim without rotation | rotated
  // qk_pos_emb_head_dim]; a value head has v_head_dim. Rotation pairs are interleaved (x0 x1, x2 x3, ...).
  bool mla = false;
  int64_t q_lora_rank = 0;
  int64_t kv_lora_rank = 0;
  int64_t qk_head_dim = 0;
  int64_t qk_pos_emb_head_dim = 0;
  int64_t v_head_dim = 0;
  // DeepSeek-V3's mixture of experts: some layers dense (moe_layers false: ffn_hidden_size), shared experts
  // next to the routed ones (one gated MLP of moe_shared_expert_ffn), and a router that scores with a sigmoid,
  // chooses with a per-expert bias added, keeps the best moe_router_group_topk of moe_router_num_groups
  // expert groups, and scales the chosen weights by moe_router_topk_scaling
  std::vector<bool> moe_layers;  // per layer; empty: every layer is MoE when num_experts > 0
  int64_t moe_shared_expert_ffn = 0;
  std::string moe_score_function = "softmax";  // or "sigmoid"
  bool moe_expert_bias = false;
  int64_t moe_router_num_groups = 0;
  int64_t moe_router_group_topk = 0;
  std::optional<double> moe_router_topk_scaling;
  // LLaVA (LlavaForConditionalGeneration): the fields above are the language model's; `vision` is the CLIP
  // tower's, a config of its own (LayerNorm, biases, a plain quick_gelu MLP, every head its own group, no
  // positions of its own in rotary terms) whose num_layers counts the layers Megatron-Core's LLaVAModel builds:
  // those up to the one whose output the image features are (Hugging Face's vision_feature_layer, -2: all but
  // the last). Image features (the class token dropped) go through a two-layer projector (GELU between) into
  // the language model's embeddings, one per image token.
  std::shared_ptr<const ModelConfig> vision;
  int64_t image_size = 0;
  int64_t patch_size = 0;
  int64_t image_channels = 3;
  int64_t vision_feature_layer = -2;  // an index into the tower's hidden states (0: its embeddings)
  int64_t vision_hf_layers = 0;       // the layers the Hugging Face tower has (>= vision->num_layers)
  std::string projector_activation = "gelu";
  bool projector_bias = true;
  int64_t image_token_index = -1;
  // Qwen2.5-VL's multimodal rotary embedding: how many of each head's rotary frequencies follow the time,
  // height and width positions (empty: one position per token)
  std::vector<int64_t> mrope_section;
  // Hugging Face tensors no Megatron parameter holds (ParamKind::kCarried), in order
  struct CarriedTensor {
    std::string name;
    Dims shape;
  };
  std::vector<CarriedTensor> carried;
  // Hugging Face tensors the Megatron model holds under their own names (ParamKind::kVerbatim; Qwen2.5-VL's
  // vision tower and patch merger), in order
  std::vector<CarriedTensor> verbatim;
  // a vision-language model: Megatron names its language model's parameters under "language_model."
  bool multimodal() const { return vision != nullptr || !verbatim.empty(); }
  int64_t image_tokens() const { return (image_size / patch_size) * (image_size / patch_size); }
  // MiniCPM muP scales
  std::optional<double> scale_depth;
  std::optional<double> dim_model_base;
  std::optional<DType> dtype;  // the checkpoint's dtype as its config states it
  json::Value hf_config;        // the config.json this came from (null when synthesised)

  bool is_moe() const { return num_experts > 0; }
  // whether `layer`'s MLP is a mixture of experts (DeepSeek-V3's first layers are dense)
  bool is_moe_layer(int64_t layer) const;
  // some layers dense and some MoE: Megatron-Core then names every layer's parameters apart
  // ("decoder.layers.3.mlp...") in torch_dist checkpoints instead of stacking them
  bool mixed_layers() const;
  int64_t q_head_dim() const { return mla ? qk_head_dim + qk_pos_emb_head_dim : kv_channels; }
  int64_t v_dim() const { return mla ? v_head_dim : kv_channels; }
  int64_t rotary_dim() const { return mla ? qk_pos_emb_head_dim : kv_channels; }
  int64_t q_rows() const { return num_attention_heads * kv_channels; }
  int64_t kv_rows() const { return num_query_groups * kv_channels; }
  // the factor on q . k before the softmax (multi-latent attention with yarn: times yarn_mscale(factor,
  // mscale_all_dim) squared, as DeepSeek's attention does)
  double attention_scale() const;
  // how many positions (itself included) a query of `layer` sees; 0: all before it
  int64_t attention_window(int64_t layer) const;
};

// yarn's attention temperature scale for a context `scale` times longer: 0.1 * mscale * ln(scale) + 1 (1 when
// scale <= 1)
double yarn_mscale(double scale, double mscale);

// Megatron-Core TransformerConfig / GPTModel arguments for this model, as a JSON object using Megatron's
// field names (num_layers, hidden_size, num_query_groups, rotary_base, moe_router_topk, ...).
json::Value megatron_transformer_config(const ModelConfig& c);

// Checks the numbers that every conversion relies on; throws an error naming `source`.
void validate(const ModelConfig& c, const std::string& source);

}  // namespace mb::bridge
