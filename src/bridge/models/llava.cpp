// LLaVA-1.5 (LlavaForConditionalGeneration) <-> Megatron-Core's LLaVAModel: a CLIP vision tower, a two-layer
// projector, and a Llama language model. The tower is Megatron-Core's CLIPViTModel ("vision_model.": conv1,
// class_token, position_embeddings, ln_pre, then layers named as GPT-2's, q/k/v interleaved per head); the
// projector its MultimodalProjector ("vision_projection.encoder.linear_fc1/2", with biases); the language model
// a GPTModel under "language_model.". Megatron-Core's tower returns its last layer's output and has no final
// norm, so it is built with the layers up to the one whose output Hugging Face's vision_feature_layer selects
// (-2: all but the last); the layers past it and the tower's post_layernorm (which LLaVA never applies to its
// features) are carried beside the Megatron checkpoint (ParamKind::kCarried), so an export gives them back.
#include "bridge/models/llama_like.h"
#include "bridge/registry.h"
#include "core/error.h"

namespace mb::bridge {

namespace {

constexpr const char* kVision = "vision_tower.";  // as transformers 5 writes it (the Hub: "vision_tower.vision_model.")
constexpr const char* kText = "language_model.model.";

const json::Value& object_field(const HfConfig& h, const char* key) {
  const json::Value* v = h.raw.find(key);
  if (!v || !v->is_object()) fail_format(h.source, key, " must be an object");
  return *v;
}

int64_t positive(const HfConfig& h, const char* key, std::optional<int64_t> fallback = std::nullopt) {
  std::optional<int64_t> v = h.integer(key);
  if (!v) v = fallback;
  if (!v || *v <= 0) fail_format(h.source, key, " must be a positive integer");
  return *v;
}

// The tower as a model of its own: CLIP's encoder layers (LayerNorm, biases, a plain MLP), `layers` of them.
std::shared_ptr<ModelConfig> vision_tower(const HfConfig& v, int64_t layers, int64_t patches) {
  auto t = std::make_shared<ModelConfig>();
  t->family = "clip_vision";
  t->num_layers = layers;
  t->hidden_size = positive(v, "hidden_size");
  t->ffn_hidden_size = positive(v, "intermediate_size");
  t->num_attention_heads = positive(v, "num_attention_heads");
  t->num_query_groups = t->num_attention_heads;
  if (t->hidden_size % t->num_attention_heads)
    fail_format(v.source, "hidden_size ", t->hidden_size, " is not a multiple of num_attention_heads ",
                t->num_attention_heads);
  t->kv_channels = t->hidden_size / t->num_attention_heads;
  t->norm_epsilon = v.number("layer_norm_eps").value_or(1e-5);
  t->layer_norm = true;
  t->linear_bias = true;
  t->qkv_bias = true;
  t->gated_mlp = false;
  t->learned_positions = true;
  t->encoder = true;  // every patch sees every patch
  t->max_position_embeddings = patches + 1;
  const json::Value* act = v.raw.find("hidden_act");
  t->mlp_activation = act && act->is_string() ? act->as_string() : "quick_gelu";
  if (t->mlp_activation != "quick_gelu" && t->mlp_activation != "gelu")
    fail(Status::kUnsupported, v.source, ": a CLIP tower with hidden_act ", t->mlp_activation,
         " (quick_gelu and gelu are supported)");
  return t;
}

// The Hugging Face names of one CLIP layer's tensors with their shapes (as the Megatron twins are laid out).
std::vector<ModelConfig::CarriedTensor> clip_layer_tensors(const ModelConfig& v, int64_t layer) {
  const std::string p = std::string(kVision) + "encoder.layers." + std::to_string(layer) + ".";
  const int64_t H = v.hidden_size, F = v.ffn_hidden_size;
  std::vector<ModelConfig::CarriedTensor> t;
  for (const char* n : {"layer_norm1", "layer_norm2"}) {
    t.push_back({p + n + ".weight", {H}});
    t.push_back({p + n + ".bias", {H}});
  }
  for (const char* n : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
    t.push_back({p + "self_attn." + n + ".weight", {H, H}});
    t.push_back({p + "self_attn." + n + ".bias", {H}});
  }
  t.push_back({p + "mlp.fc1.weight", {F, H}});
  t.push_back({p + "mlp.fc1.bias", {F}});
  t.push_back({p + "mlp.fc2.weight", {H, F}});
  t.push_back({p + "mlp.fc2.bias", {H}});
  return t;
}

ModelConfig llava_config(const HfConfig& h) {
  const HfConfig text = parse_hf_config(object_field(h, "text_config"), h.source + " (text_config)");
  const HfConfig vision = parse_hf_config(object_field(h, "vision_config"), h.source + " (vision_config)");
  if (!text.model_type.empty() && text.model_type != "llama")
    fail(Status::kUnsupported, h.source, ": LLaVA with a ", text.model_type, " language model (llama is supported)");
  if (!vision.model_type.empty() && vision.model_type != "clip_vision_model")
    fail(Status::kUnsupported, h.source, ": LLaVA with a ", vision.model_type, " vision tower (CLIP is supported)");
  if (text.mlp_bias || text.attention_bias)
    fail(Status::kUnsupported, h.source, ": a LLaVA language model with biases");
  ModelConfig c = llama_like_config(text, "llava");
  c.hf_architecture = "LlavaForConditionalGeneration";
  if (!c.dtype) c.dtype = h.dtype;
  c.tied_embeddings = h.boolean("tie_word_embeddings").value_or(text.tie_word_embeddings);
  c.hf_config = h.raw;

  const json::Value* layer = h.raw.find("vision_feature_layer");
  if (layer && !layer->is_null() && !layer->is_number())
    fail(Status::kUnsupported, h.source, ": vision_feature_layer as a list of layers (one layer is supported)");
  c.vision_feature_layer = h.integer("vision_feature_layer").value_or(-2);
  const json::Value* strategy = h.raw.find("vision_feature_select_strategy");
  if (strategy && strategy->is_string() && strategy->as_string() != "default")
    fail(Status::kUnsupported, h.source, ": vision_feature_select_strategy ", strategy->as_string(),
         " (\"default\", the class token dropped, is supported)");
  const json::Value* act = h.raw.find("projector_hidden_act");
  c.projector_activation = act && act->is_string() ? act->as_string() : "gelu";
  if (c.projector_activation != "gelu")
    fail(Status::kUnsupported, h.source, ": projector_hidden_act ", c.projector_activation, " (gelu is supported)");
  c.projector_bias = h.boolean("multimodal_projector_bias").value_or(true);
  c.image_token_index = h.integer("image_token_index").value_or(h.integer("image_token_id").value_or(-1));
  if (c.image_token_index < 0 || c.image_token_index >= c.vocab_size)
    fail_format(h.source, "image_token_index ", c.image_token_index, " is not in the vocabulary of ", c.vocab_size);

  c.image_size = positive(vision, "image_size");
  c.patch_size = positive(vision, "patch_size");
  c.image_channels = positive(vision, "num_channels", 3);
  if (c.image_size % c.patch_size)
    fail_format(h.source, "image_size ", c.image_size, " is not a multiple of patch_size ", c.patch_size);
  c.vision_hf_layers = positive(vision, "num_hidden_layers");
  // hidden state k is the output of layer k - 1 (0: the embeddings after pre_layrnorm)
  const int64_t used = c.vision_feature_layer < 0 ? c.vision_hf_layers + 1 + c.vision_feature_layer : c.vision_feature_layer;
  if (used < 1 || used > c.vision_hf_layers)
    fail(Status::kUnsupported, h.source, ": vision_feature_layer ", c.vision_feature_layer, " of a tower of ",
         c.vision_hf_layers, " layers (it must select a layer's output)");
  auto tower = vision_tower(vision, used, c.image_tokens());
  for (int64_t l = used; l < c.vision_hf_layers; ++l)
    for (auto& t : clip_layer_tensors(*tower, l)) c.carried.push_back(std::move(t));
  for (const char* n : {"weight", "bias"})
    c.carried.push_back({std::string(kVision) + "post_layernorm." + n, {tower->hidden_size}});
  c.vision = std::move(tower);
  return c;
}

json::Value llava_hf_config(const ModelConfig& c) {
  json::Value v = hf_config_header("LlavaForConditionalGeneration", "llava");
  json::Value text = llama_like_hf_config(c, "LlamaForCausalLM", "llama");
  text.erase("architectures");
  text.set("attention_bias", false);
  text.set("mlp_bias", false);
  v.set("text_config", std::move(text));
  const ModelConfig& t = *c.vision;
  json::Value vision = json::Value::object();
  vision.set("model_type", "clip_vision_model");
  vision.set("hidden_size", t.hidden_size);
  vision.set("intermediate_size", t.ffn_hidden_size);
  vision.set("num_hidden_layers", c.vision_hf_layers);
  vision.set("num_attention_heads", t.num_attention_heads);
  vision.set("image_size", c.image_size);
  vision.set("patch_size", c.patch_size);
  vision.set("num_channels", c.image_channels);
  vision.set("hidden_act", t.mlp_activation);
  vision.set("layer_norm_eps", t.norm_epsilon);
  v.set("vision_config", std::move(vision));
  v.set("image_token_index", c.image_token_index);
  v.set("image_seq_length", c.image_tokens());
  v.set("projector_hidden_act", c.projector_activation);
  v.set("multimodal_projector_bias", c.projector_bias);
  v.set("vision_feature_layer", c.vision_feature_layer);
  v.set("vision_feature_select_strategy", "default");
  v.set("tie_word_embeddings", c.tied_embeddings);
  if (c.dtype) v.set("dtype", dtype_torch_name(*c.dtype));
  return v;
}

// The Llama mappings with LLaVA's language-model prefixes.
std::vector<HfMapping> language_mappings() {
  std::vector<HfMapping> m = llama_dense_mappings(false, false);
  for (HfMapping& x : m)
    for (std::string& n : x.hf) {
      if (n.compare(0, 6, "model.") == 0) n = kText + n.substr(6);
      else if (n == "lm_head.weight") n = "language_model.lm_head.weight";
    }
  return m;
}

std::vector<HfMapping> vision_mappings() {
  const std::string v = kVision, layer = v + "encoder.layers.{layer}.";
  using K = ParamKind;
  return {
      {K::kVisionPatchEmbedding, HfRule::kDirect, {v + "embeddings.patch_embedding.weight"}},
      {K::kVisionClassToken, HfRule::kSqueezed, {v + "embeddings.class_embedding"}},
      {K::kVisionPositionEmbedding, HfRule::kDirect, {v + "embeddings.position_embedding.weight"}},
      {K::kVisionPreNorm, HfRule::kDirect, {v + "pre_layrnorm.weight"}},  // (transformers' spelling)
      {K::kVisionPreNormBias, HfRule::kDirect, {v + "pre_layrnorm.bias"}},
      {K::kVisionInputNorm, HfRule::kDirect, {layer + "layer_norm1.weight"}},
      {K::kVisionInputNormBias, HfRule::kDirect, {layer + "layer_norm1.bias"}},
      {K::kVisionQkv, HfRule::kQkv,
       {layer + "self_attn.q_proj.weight", layer + "self_attn.k_proj.weight", layer + "self_attn.v_proj.weight"}},
      {K::kVisionQkvBias, HfRule::kQkv,
       {layer + "self_attn.q_proj.bias", layer + "self_attn.k_proj.bias", layer + "self_attn.v_proj.bias"}},
      {K::kVisionProj, HfRule::kDirect, {layer + "self_attn.out_proj.weight"}},
      {K::kVisionProjBias, HfRule::kDirect, {layer + "self_attn.out_proj.bias"}},
      {K::kVisionPreMlpNorm, HfRule::kDirect, {layer + "layer_norm2.weight"}},
      {K::kVisionPreMlpNormBias, HfRule::kDirect, {layer + "layer_norm2.bias"}},
      {K::kVisionFc1, HfRule::kDirect, {layer + "mlp.fc1.weight"}},
      {K::kVisionFc1Bias, HfRule::kDirect, {layer + "mlp.fc1.bias"}},
      {K::kVisionFc2, HfRule::kDirect, {layer + "mlp.fc2.weight"}},
      {K::kVisionFc2Bias, HfRule::kDirect, {layer + "mlp.fc2.bias"}},
      {K::kProjectorFc1, HfRule::kDirect, {"multi_modal_projector.linear_1.weight"}},
      {K::kProjectorFc1Bias, HfRule::kDirect, {"multi_modal_projector.linear_1.bias"}},
      {K::kProjectorFc2, HfRule::kDirect, {"multi_modal_projector.linear_2.weight"}},
      {K::kProjectorFc2Bias, HfRule::kDirect, {"multi_modal_projector.linear_2.bias"}},
      {K::kCarried, HfRule::kDirect, {"(named by ModelConfig::carried)"}},
  };
}

}  // namespace

const Family& llava_family() {
  static const Family f = [] {
    Family f;
    f.name = "llava";
    f.description = "LLaVA-1.5 (CLIP vision tower, MLP projector, Llama)";
    f.architectures = {"LlavaForConditionalGeneration"};
    f.model_types = {"llava"};
    f.config_from_hf = llava_config;
    f.hf_config_for = llava_hf_config;
    f.mappings = language_mappings();
    for (HfMapping& m : vision_mappings()) f.mappings.push_back(std::move(m));
    f.ignored = llama_ignored();
    for (std::string& n : f.ignored)
      if (n.compare(0, 6, "model.") == 0) n = kText + n.substr(6);
    f.alternative_prefixes = {{kVision, "vision_tower.vision_model."}};
    return f;
  }();
  return f;
}

}  // namespace mb::bridge
