// BERT (BertForMaskedLM) <-> Megatron-Core BertModel. Hugging Face's BERT is post-LN: each branch's output is
// added to its input and the sum normalised. Megatron-Core's BertModel layer is pre-LN, but with norms that
// return their output as the residual (returns_residual) it computes the same thing, with every norm one slot
// later: layer 0's input norm is the embeddings' LayerNorm, layer i's the output LayerNorm of layer i - 1,
// each layer's pre-MLP norm its attention output LayerNorm, and the final norm the last layer's output
// LayerNorm. The masked-LM head (transform dense, GELU, LayerNorm, the tied decoder and its bias) is
// BertModel's lm_head and output layer. q, k and v are separate Linear layers, as in Llama.
#include "bridge/models/llama_like.h"
#include "bridge/models/plain_block.h"
#include "bridge/registry.h"
#include "core/error.h"

namespace mb::bridge {

namespace {

ModelConfig bert_config(const HfConfig& h) {
  if (h.boolean("is_decoder").value_or(false) || h.boolean("add_cross_attention").value_or(false))
    fail(Status::kUnsupported, h.source, ": BERT as a decoder (is_decoder, add_cross_attention)");
  const json::Value* position = h.raw.find("position_embedding_type");
  if (position && position->is_string() && position->as_string() != "absolute")
    fail(Status::kUnsupported, h.source, ": BERT with position_embedding_type '", position->as_string(), "'");
  ModelConfig c;
  c.family = "bert";
  c.hf_architecture = "BertForMaskedLM";
  c.num_layers = h.num_hidden_layers;
  c.hidden_size = h.hidden_size;
  c.ffn_hidden_size = h.intermediate_size;
  c.num_attention_heads = h.num_attention_heads;
  c.num_query_groups = h.num_attention_heads;
  c.kv_channels = h.head_dim;
  c.vocab_size = h.vocab_size;
  c.max_position_embeddings = h.max_position_embeddings;
  c.norm_epsilon = h.number("layer_norm_eps").value_or(1e-12);
  c.tied_embeddings = h.boolean("tie_word_embeddings").value_or(true);
  c.num_token_types = h.integer("type_vocab_size").value_or(2);
  c.encoder = true;
  c.residual_after_norm = true;
  set_plain_block(&c, h, "hidden_act", "gelu");
  c.dtype = h.dtype;
  c.hf_config = h.raw;
  if (c.num_token_types < 0) fail_format(h.source, "type_vocab_size must not be negative");
  return c;
}

json::Value bert_hf_config(const ModelConfig& c) {
  json::Value v = hf_config_header("BertForMaskedLM", "bert");
  v.set("hidden_size", c.hidden_size);
  v.set("intermediate_size", c.ffn_hidden_size);
  v.set("num_hidden_layers", c.num_layers);
  v.set("num_attention_heads", c.num_attention_heads);
  v.set("vocab_size", c.vocab_size);
  v.set("max_position_embeddings", c.max_position_embeddings);
  v.set("type_vocab_size", c.num_token_types);
  v.set("layer_norm_eps", c.norm_epsilon);
  v.set("hidden_act", plain_block_hf_activation(c));
  v.set("tie_word_embeddings", c.tied_embeddings);
  v.set("position_embedding_type", "absolute");
  if (c.dtype) v.set("dtype", dtype_torch_name(*c.dtype));
  return v;
}

std::vector<HfMapping> bert_mappings() {
  const std::string l = "bert.encoder.layer.{layer}.", prev = "bert.encoder.layer.{layer-1}.",
                    last = "bert.encoder.layer.{last_layer}.";
  return {
      {ParamKind::kEmbedding, HfRule::kDirect, {"bert.embeddings.word_embeddings.weight"}},
      {ParamKind::kPositionEmbedding, HfRule::kDirect, {"bert.embeddings.position_embeddings.weight"}},
      {ParamKind::kTokenTypeEmbedding, HfRule::kDirect, {"bert.embeddings.token_type_embeddings.weight"}},
      // the norms, one slot later than Hugging Face's (see the top of this file)
      {ParamKind::kInputNorm, HfRule::kDirect, {prev + "output.LayerNorm.weight"}, {"bert.embeddings.LayerNorm.weight"}},
      {ParamKind::kInputNormBias, HfRule::kDirect, {prev + "output.LayerNorm.bias"}, {"bert.embeddings.LayerNorm.bias"}},
      {ParamKind::kPreMlpNorm, HfRule::kDirect, {l + "attention.output.LayerNorm.weight"}},
      {ParamKind::kPreMlpNormBias, HfRule::kDirect, {l + "attention.output.LayerNorm.bias"}},
      {ParamKind::kFinalNorm, HfRule::kDirect, {last + "output.LayerNorm.weight"}},
      {ParamKind::kFinalNormBias, HfRule::kDirect, {last + "output.LayerNorm.bias"}},
      {ParamKind::kQkv, HfRule::kQkv,
       {l + "attention.self.query.weight", l + "attention.self.key.weight", l + "attention.self.value.weight"}},
      {ParamKind::kQkvBias, HfRule::kQkv,
       {l + "attention.self.query.bias", l + "attention.self.key.bias", l + "attention.self.value.bias"}},
      {ParamKind::kProj, HfRule::kDirect, {l + "attention.output.dense.weight"}},
      {ParamKind::kProjBias, HfRule::kDirect, {l + "attention.output.dense.bias"}},
      {ParamKind::kFc1, HfRule::kDirect, {l + "intermediate.dense.weight"}},
      {ParamKind::kFc1Bias, HfRule::kDirect, {l + "intermediate.dense.bias"}},
      {ParamKind::kFc2, HfRule::kDirect, {l + "output.dense.weight"}},
      {ParamKind::kFc2Bias, HfRule::kDirect, {l + "output.dense.bias"}},
      {ParamKind::kLmHeadDense, HfRule::kDirect, {"cls.predictions.transform.dense.weight"}},
      {ParamKind::kLmHeadDenseBias, HfRule::kDirect, {"cls.predictions.transform.dense.bias"}},
      {ParamKind::kLmHeadNorm, HfRule::kDirect, {"cls.predictions.transform.LayerNorm.weight"}},
      {ParamKind::kLmHeadNormBias, HfRule::kDirect, {"cls.predictions.transform.LayerNorm.bias"}},
      {ParamKind::kOutput, HfRule::kDirect, {"cls.predictions.decoder.weight"}},
      {ParamKind::kOutputBias, HfRule::kDirect, {"cls.predictions.bias"}},
  };
}

}  // namespace

const Family& bert_family() {
  static const Family f = [] {
    Family f;
    f.name = "bert";
    f.description = "BERT masked LM (post-LN as Megatron-Core BertModel with residual-returning norms)";
    f.architectures = {"BertForMaskedLM"};
    f.model_types = {"bert"};
    f.config_from_hf = bert_config;
    f.hf_config_for = bert_hf_config;
    f.mappings = bert_mappings();
    // older files' position-id buffer, and the decoder's bias saved under both names
    f.ignored = {"bert.embeddings.position_ids", "cls.predictions.decoder.bias"};
    return f;
  }();
  return f;
}

}  // namespace mb::bridge
