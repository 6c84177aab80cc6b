#include "io/hf_config.h"

#include "core/error.h"
#include "core/paths.h"

namespace mb {

namespace {

std::optional<double> opt_number(const json::Value& obj, const char* key, const std::string& src) {
  const json::Value* v = obj.find(key);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_number()) fail_format(src, "\"", key, "\" should be a number");
  return v->as_number();
}

std::optional<int64_t> opt_int(const json::Value& obj, const char* key, const std::string& src) {
  const json::Value* v = obj.find(key);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_number()) fail_format(src, "\"", key, "\" should be an integer");
  return v->as_int(src + ": \"" + key + "\"");
}

std::vector<double> number_list(const json::Value& obj, const char* key, const std::string& src) {
  std::vector<double> out;
  const json::Value* v = obj.find(key);
  if (!v || v->is_null()) return out;
  if (!v->is_array()) fail_format(src, "\"", key, "\" should be a list of numbers");
  for (const json::Value& x : v->items()) {
    if (!x.is_number()) fail_format(src, "\"", key, "\" should be a list of numbers");
    out.push_back(x.as_number());
  }
  return out;
}

RopeScaling parse_rope(const json::Value& obj, const std::string& src) {
  RopeScaling r;
  r.raw = obj;
  const json::Value* type = obj.find("rope_type");
  if (!type || type->is_null()) type = obj.find("type");  // transformers 4 before rope_type
  if (type && type->is_string()) r.type = type->as_string();
  if (r.type == "su") r.type = "longrope";  // older Phi-3 spelling
  r.factor = opt_number(obj, "factor", src);
  r.low_freq_factor = opt_number(obj, "low_freq_factor", src);
  r.high_freq_factor = opt_number(obj, "high_freq_factor", src);
  r.original_max_position_embeddings = opt_int(obj, "original_max_position_embeddings", src);
  r.attention_factor = opt_number(obj, "attention_factor", src);
  r.beta_fast = opt_number(obj, "beta_fast", src);
  r.beta_slow = opt_number(obj, "beta_slow", src);
  r.mscale = opt_number(obj, "mscale", src);
  r.mscale_all_dim = opt_number(obj, "mscale_all_dim", src);
  if (const json::Value* t = obj.find("truncate"); t && t->is_bool()) r.truncate = t->as_bool();
  r.short_factor = number_list(obj, "short_factor", src);
  r.long_factor = number_list(obj, "long_factor", src);
  return r;
}

}  // namespace

std::optional<double> HfConfig::number(const std::string& key) const { return opt_number(raw, key.c_str(), source); }
std::optional<int64_t> HfConfig::integer(const std::string& key) const { return opt_int(raw, key.c_str(), source); }
std::optional<bool> HfConfig::boolean(const std::string& key) const {
  const json::Value* v = raw.find(key);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_bool()) fail_format(source, "\"", key, "\" should be true or false");
  return v->as_bool();
}

HfConfig parse_hf_config(const json::Value& raw, const std::string& src) {
  if (!raw.is_object()) fail_format(src, "config is not a JSON object");
  HfConfig c;
  c.raw = raw;
  c.source = src;
  if (const json::Value* a = raw.find("architectures"); a && a->is_array())
    for (const json::Value& x : a->items())
      if (x.is_string()) c.architectures.push_back(x.as_string());
  if (const json::Value* t = raw.find("model_type"); t && t->is_string()) c.model_type = t->as_string();

  c.hidden_size = opt_int(raw, "hidden_size", src).value_or(0);
  c.intermediate_size = opt_int(raw, "intermediate_size", src).value_or(0);
  c.num_hidden_layers = opt_int(raw, "num_hidden_layers", src).value_or(0);
  c.num_attention_heads = opt_int(raw, "num_attention_heads", src).value_or(0);
  c.num_key_value_heads = opt_int(raw, "num_key_value_heads", src).value_or(c.num_attention_heads);
  if (c.num_attention_heads > 0 && c.hidden_size % c.num_attention_heads == 0)
    c.head_dim = c.hidden_size / c.num_attention_heads;
  c.head_dim = opt_int(raw, "head_dim", src).value_or(c.head_dim);
  c.vocab_size = opt_int(raw, "vocab_size", src).value_or(0);
  c.max_position_embeddings = opt_int(raw, "max_position_embeddings", src).value_or(0);
  c.rms_norm_eps = opt_number(raw, "rms_norm_eps", src).value_or(1e-6);
  if (const json::Value* tie = raw.find("tie_word_embeddings"); tie && tie->is_bool()) c.tie_word_embeddings = tie->as_bool();
  if (const json::Value* b = raw.find("attention_bias"); b && b->is_bool()) c.attention_bias = b->as_bool();
  if (const json::Value* b = raw.find("mlp_bias"); b && b->is_bool()) c.mlp_bias = b->as_bool();
  c.sliding_window = opt_int(raw, "sliding_window", src);

  // rope: transformers 5 keeps everything in rope_parameters, transformers 4 splits theta and scaling
  const json::Value* params = raw.find("rope_parameters");
  if (params && params->is_object()) {
    c.transformers5_style = true;
    c.rope_theta = opt_number(*params, "rope_theta", src).value_or(c.rope_theta);
    c.rope_scaling = parse_rope(*params, src);
  } else {
    c.rope_theta = opt_number(raw, "rope_theta", src).value_or(c.rope_theta);
    const json::Value* scaling = raw.find("rope_scaling");
    if (scaling && scaling->is_object()) c.rope_scaling = parse_rope(*scaling, src);
  }

  const json::Value* dt = raw.find("dtype");
  if (dt && !dt->is_null()) c.transformers5_style = true;
  else dt = raw.find("torch_dtype");
  if (dt && dt->is_string()) {
    c.dtype = dtype_from_torch_name(dt->as_string());
    if (!c.dtype) fail_format(src, "unknown dtype '", dt->as_string(), "'");
  }

  c.num_experts = opt_int(raw, "num_local_experts", src).value_or(opt_int(raw, "num_experts", src).value_or(0));
  c.num_experts_per_tok = opt_int(raw, "num_experts_per_tok", src).value_or(0);
  c.moe_intermediate_size = opt_int(raw, "moe_intermediate_size", src).value_or(0);

  c.scale_emb = opt_number(raw, "scale_emb", src);
  c.scale_depth = opt_number(raw, "scale_depth", src);
  c.dim_model_base = opt_number(raw, "dim_model_base", src);
  return c;
}

HfConfig load_hf_config(const std::string& path) {
  std::string file = is_directory(path) ? join_path(path, "config.json") : path;
  return parse_hf_config(json::parse_file(file), file);
}

std::vector<int32_t> generation_eos_ids(const std::string& folder) {
  std::vector<int32_t> ids;
  const std::string path = folder + "/generation_config.json";
  if (folder.empty() || !is_regular_file(path)) return ids;
  json::Value g = json::parse_file(path);
  if (const json::Value* eos = g.find("eos_token_id")) {
    if (eos->is_array())
      for (const json::Value& id : eos->items()) ids.push_back(static_cast<int32_t>(id.as_int(path + ": eos_token_id")));
    else if (eos->is_int())
      ids.push_back(static_cast<int32_t>(eos->as_int()));
  }
  return ids;
}

}  // namespace mb
