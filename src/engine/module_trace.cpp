#include "engine/module_trace.h"

#include <algorithm>
#include <cmath>

namespace mb::engine {
namespace {

json::Value shape_json(const std::vector<int64_t>& shape) {
  json::Value v = json::Value::array();
  for (int64_t d : shape) v.push(d);
  return v;
}

ModuleRecord record(std::string module, std::vector<int64_t> in, std::vector<int64_t> out,
                    std::vector<std::pair<std::string, std::vector<int64_t>>> weights) {
  ModuleRecord r;
  r.module = std::move(module);
  r.input_shape = std::move(in);
  r.output_shape = std::move(out);
  r.weights = std::move(weights);
  return r;
}

}  // namespace

ModuleRecord embedding_record(const bridge::ModelConfig& c, int64_t vocab_rows, int64_t T) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> w = {{"word_embeddings.weight", {vocab_rows, c.hidden_size}}};
  if (c.learned_positions) w.push_back({"position_embeddings.weight", {c.max_position_embeddings, c.hidden_size}});
  return record("embedding", {T}, {T, c.hidden_size}, std::move(w));
}

ModuleRecord layer_record(const bridge::ModelConfig& c, int layer, LayerModule module, int64_t T) {
  const std::string prefix = "decoder.layers." + std::to_string(layer) + ".";
  const int64_t H = c.hidden_size, d = c.kv_channels, heads_d = c.num_attention_heads * d;
  const int64_t qkv_rows = (c.num_attention_heads + 2 * c.num_query_groups) * d;
  using Weights = std::vector<std::pair<std::string, std::vector<int64_t>>>;
  auto norm = [&](const char* name) {
    Weights w = {{"weight", {H}}};
    if (c.layer_norm) w.push_back({"bias", {H}});
    return record(prefix + name, {T, H}, {T, H}, std::move(w));
  };
  switch (module) {
    case LayerModule::kInputNorm: return norm("input_layernorm");
    case LayerModule::kSelfAttention: {
      if (c.mla) {  // multi-latent attention's projections and latent norms
        const int64_t q_rows = c.num_attention_heads * c.q_head_dim();
        Weights w;
        if (c.q_lora_rank > 0)
          w = {{"linear_q_down_proj.weight", {c.q_lora_rank, H}},
               {"q_layernorm.weight", {c.q_lora_rank}},
               {"linear_q_up_proj.weight", {q_rows, c.q_lora_rank}}};
        else
          w = {{"linear_q_proj.weight", {q_rows, H}}};
        w.push_back({"linear_kv_down_proj.weight", {c.kv_lora_rank + c.qk_pos_emb_head_dim, H}});
        w.push_back({"kv_layernorm.weight", {c.kv_lora_rank}});
        w.push_back({"linear_kv_up_proj.weight", {c.num_attention_heads * (c.qk_head_dim + c.v_head_dim), c.kv_lora_rank}});
        w.push_back({"linear_proj.weight", {H, c.num_attention_heads * c.v_head_dim}});
        return record(prefix + "self_attention", {T, H}, {T, H}, std::move(w));
      }
      Weights w = {{"linear_qkv.weight", {qkv_rows, H}}, {"linear_proj.weight", {H, heads_d}}};
      if (c.qkv_bias) w.push_back({"linear_qkv.bias", {qkv_rows}});
      if (c.linear_bias) w.push_back({"linear_proj.bias", {H}});
      if (c.qk_layernorm) w.push_back({"q_layernorm.weight", {d}}), w.push_back({"k_layernorm.weight", {d}});
      return record(prefix + "self_attention", {T, H}, {T, H}, std::move(w));
    }
    case LayerModule::kPreMlpNorm: return norm("pre_mlp_layernorm");
    case LayerModule::kMlp:
      break;
  }
  if (c.is_moe_layer(layer)) {
    Weights w = {{"router.weight", {c.num_experts, H}},
                 {"experts.linear_fc1.weight", {c.num_experts, 2 * c.moe_ffn_hidden_size, H}},
                 {"experts.linear_fc2.weight", {c.num_experts, H, c.moe_ffn_hidden_size}}};
    if (c.moe_expert_bias) w.push_back({"router.expert_bias", {c.num_experts}});
    if (c.moe_shared_expert_ffn > 0)
      w.push_back({"shared_experts.linear_fc1.weight", {2 * c.moe_shared_expert_ffn, H}}),
          w.push_back({"shared_experts.linear_fc2.weight", {H, c.moe_shared_expert_ffn}});
    return record(prefix + "mlp", {T, H}, {T, H}, std::move(w));
  }
  const int64_t fc1_rows = (c.gated_mlp ? 2 : 1) * c.ffn_hidden_size;
  Weights w = {{"linear_fc1.weight", {fc1_rows, H}}, {"linear_fc2.weight", {H, c.ffn_hidden_size}}};
  if (c.linear_bias) w.push_back({"linear_fc1.bias", {fc1_rows}}), w.push_back({"linear_fc2.bias", {H}});
  return record(prefix + "mlp", {T, H}, {T, H}, std::move(w));
}

ModuleRecord final_norm_record(const bridge::ModelConfig& c, int64_t T) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> w = {{"weight", {c.hidden_size}}};
  if (c.layer_norm) w.push_back({"bias", {c.hidden_size}});
  return record("decoder.final_layernorm", {T, c.hidden_size}, {T, c.hidden_size}, std::move(w));
}

ModuleRecord output_record(const bridge::ModelConfig& c, int64_t vocab_rows, int64_t T) {
  return record("output_layer", {T, c.hidden_size}, {T, c.vocab_size}, {{"weight", {vocab_rows, c.hidden_size}}});
}

void set_output_stats(ModuleRecord* record, const float* output, size_t count) {
  double lo = count ? output[0] : 0, hi = lo, sum = 0, abs_sum = 0;
  for (size_t i = 0; i < count; ++i) {
    lo = std::min(lo, double(output[i]));
    hi = std::max(hi, double(output[i]));
    sum += output[i];
    abs_sum += std::fabs(output[i]);
  }
  record->min = lo;
  record->max = hi;
  record->mean = count ? sum / double(count) : 0;
  record->abs_sum = abs_sum;
}

json::Value to_json(const ModuleRecord& r) {
  json::Value v = json::Value::object();
  v.set("module", r.module);
  v.set("input_shape", shape_json(r.input_shape));
  v.set("output_shape", shape_json(r.output_shape));
  json::Value weights = json::Value::object();
  for (const auto& [name, shape] : r.weights) weights.set(name, shape_json(shape));
  v.set("weights", std::move(weights));
  v.set("dtype", r.dtype);
  v.set("min", r.min);
  v.set("max", r.max);
  v.set("mean", r.mean);
  v.set("abs_sum", r.abs_sum);
  return v;
}

}  // namespace mb::engine
