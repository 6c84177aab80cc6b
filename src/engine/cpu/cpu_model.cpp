#include "engine/cpu/cpu_model.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>

#include "bridge/param_source.h"
#include "bridge/params.h"
#include "core/error.h"
#include "core/tensor.h"
#include "engine/cpu/cpu_math.h"
#include "engine/rope.h"
#include "engine/routing.h"

namespace mb::engine {
namespace {

using bridge::ParamKind;
using namespace cpu_math;

// Gemma-2's soft cap: cap * tanh(v / cap), near v for small v and never past +-cap
double soft_cap(double v, double cap) { return cap * std::tanh(v / cap); }

// Rotary embedding of one head (rotate-half convention: pairs (i, i + d/2)), the rotated values times `scale`
// (yarn's attention factor; 1 otherwise).
void rotate(float* head, int64_t d, const std::vector<float>& inv_freq, float scale, int64_t position) {
  const int64_t half = d / 2;
  for (int64_t i = 0; i < half; ++i) {
    const float angle = static_cast<float>(position) * inv_freq[static_cast<size_t>(i)];
    const float c = std::cos(angle) * scale, s = std::sin(angle) * scale;
    const float a = head[i], b = head[i + half];
    head[i] = a * c - b * s;
    head[i + half] = b * c + a * s;
  }
}

// Qwen2.5-VL's multimodal rotary embedding: rotate-half pairs whose angle follows the time, row or column
// position by the pair's section (mrope_section: how many pairs each).
void rotate_mrope(float* head, int64_t d, const std::vector<float>& inv_freq, const std::array<int64_t, 3>& position,
                  const std::vector<int64_t>& section) {
  const int64_t half = d / 2;
  for (int64_t i = 0; i < half; ++i) {
    const int axis = i < section[0] ? 0 : i < section[0] + section[1] ? 1 : 2;
    const float angle = static_cast<float>(position[static_cast<size_t>(axis)]) * inv_freq[static_cast<size_t>(i)];
    const float c = std::cos(angle), s = std::sin(angle);
    const float a = head[i], b = head[i + half];
    head[i] = a * c - b * s;
    head[i + half] = b * c + a * s;
  }
}

// Rotary embedding of interleaved pairs (x0 x1, x2 x3, ...), as multi-latent attention rotates: the pairs are
// first gathered into halves ([x0 x2 ... | x1 x3 ...], the order transformers leaves them in), then rotated
// as above.
void rotate_interleaved(float* head, int64_t d, const std::vector<float>& inv_freq, float scale, int64_t position) {
  const std::vector<float> x(head, head + d);
  for (int64_t i = 0; i < d / 2; ++i) {
    head[i] = x[static_cast<size_t>(2 * i)];
    head[i + d / 2] = x[static_cast<size_t>(2 * i + 1)];
  }
  rotate(head, d, inv_freq, scale, position);
}

// transformers' DeepseekV3RMSNorm of the q and kv latents is built without the config's rms_norm_eps
constexpr double kLatentNormEpsilon = 1e-6;

}  // namespace

CpuModel::CpuModel(const bridge::ParamSource& source, std::optional<RankRole> role)
    : config_(source.config()), role_(std::move(role)), vocab_rows_(source.vocab_rows()) {
  if (role_ && (!role_->tensor || !role_->pipeline || role_->tensor->size() != role_->plan.options.tp ||
                role_->pipeline->size() != role_->plan.options.pp))
    fail(Status::kInternal, source.path(), ": a rank without its tensor- and pipeline-parallel groups");
  if (!config_.learned_positions) {
    inv_freq_ = rotary_inverse_frequencies(config_, source.path());
    rotary_factor_ = static_cast<float>(rotary_attention_factor(config_));
  }
  for (const bridge::ParamInfo& p : source.params()) {
    Tensor t = source.read(p).contiguous().to(DType::F32);
    const float* f = t.data_as<float>();
    std::vector<float>& v = params_[Key{static_cast<int>(p.key.kind), p.key.layer, p.key.expert}];
    v.assign(f, f + t.numel());
    if (bridge::is_norm_weight(p.key.kind) && config_.norm_one_centered)  // Gemma: the stored w is applied as 1 + w
      for (float& x : v) x += 1.0f;
    if (p.key.kind == ParamKind::kVerbatim) verbatim_index_[config_.verbatim.at(static_cast<size_t>(p.key.layer)).name] = p.key.layer;
  }
  if (config_.family == "qwen2_5_vl") qwen_tower_ = qwen_tower_shape(config_);
}

void CpuModel::reduce_parts(float* data, size_t n) const {
  if (role_ && role_->plan.options.tp > 1) role_->tensor->all_reduce_sum(data, n);
}

void CpuModel::norm(const float* x, ParamKind weight, ParamKind bias, int layer, float* out) const {
  const bridge::ModelConfig& c = config_;
  const float* w = param(static_cast<int>(weight), layer).data();
  if (c.layer_norm)
    layer_norm(x, w, param(static_cast<int>(bias), layer).data(), c.hidden_size, c.norm_epsilon, out);
  else
    rms_norm(x, w, c.hidden_size, c.norm_epsilon, out);
}

void CpuModel::lm_head_transform(std::vector<float>* h) const {
  const bridge::ModelConfig& c = config_;
  std::vector<float> y(h->size());
  matvec(param(static_cast<int>(ParamKind::kLmHeadDense)).data(), h->data(), c.hidden_size, c.hidden_size, y.data());
  add_bias(ParamKind::kLmHeadDenseBias, -1, c.hidden_size, y.data());
  for (float& v : y) v = activation(c.mlp_activation, v);
  layer_norm(y.data(), param(static_cast<int>(ParamKind::kLmHeadNorm)).data(),
             param(static_cast<int>(ParamKind::kLmHeadNormBias)).data(), c.hidden_size, c.norm_epsilon, h->data());
}

void CpuModel::add_bias(ParamKind kind, int layer, int64_t n, float* y) const {
  if (!config_.linear_bias) return;
  const std::vector<float>& b = param(static_cast<int>(kind), layer);
  for (int64_t i = 0; i < n; ++i) y[i] += b[static_cast<size_t>(i)];
}

const std::vector<float>& CpuModel::verbatim(const std::string& name) const {
  auto it = verbatim_index_.find(name);
  if (it == verbatim_index_.end()) fail(Status::kInternal, "CPU forward: tensor '", name, "' missing");
  return param(static_cast<int>(ParamKind::kVerbatim), it->second);
}

const std::vector<float>& CpuModel::param(int kind, int layer, int expert) const {
  auto it = params_.find(Key{kind, layer, expert});
  if (it == params_.end()) fail(Status::kInternal, "CPU forward: parameter ", kind, " of layer ", layer, " missing");
  return it->second;
}

void CpuModel::mla_project(int layer, const float* h, int64_t position, float* q, float* k, float* v) const {
  const bridge::ModelConfig& c = config_;
  const int64_t H = c.hidden_size, heads = c.num_attention_heads, nope = c.qk_head_dim;
  const int64_t rope = c.qk_pos_emb_head_dim, dq = nope + rope, dv = c.v_head_dim, kv_lora = c.kv_lora_rank;
  auto w = [&](ParamKind kind) { return param(static_cast<int>(kind), layer).data(); };
  if (c.q_lora_rank > 0) {  // down, norm, up
    std::vector<float> latent(static_cast<size_t>(c.q_lora_rank));
    matvec(w(ParamKind::kQDown), h, c.q_lora_rank, H, latent.data());
    rms_norm(latent.data(), w(ParamKind::kQUpNorm), c.q_lora_rank, kLatentNormEpsilon, latent.data());
    matvec(w(ParamKind::kQUp), latent.data(), heads * dq, c.q_lora_rank, q);
  } else {
    matvec(w(ParamKind::kQProj), h, heads * dq, H, q);
  }
  // [latent | rotary key]: the latent normalised and expanded into every head's [key | value]
  std::vector<float> compressed(static_cast<size_t>(kv_lora + rope)), kv(static_cast<size_t>(heads * (nope + dv)));
  matvec(w(ParamKind::kKvDown), h, kv_lora + rope, H, compressed.data());
  rms_norm(compressed.data(), w(ParamKind::kKvUpNorm), kv_lora, kLatentNormEpsilon, compressed.data());
  matvec(w(ParamKind::kKvUp), compressed.data(), heads * (nope + dv), kv_lora, kv.data());
  float* rotary_key = compressed.data() + kv_lora;  // one for all heads
  rotate_interleaved(rotary_key, rope, inv_freq_, rotary_factor_, position);
  for (int64_t hd = 0; hd < heads; ++hd) {
    rotate_interleaved(q + hd * dq + nope, rope, inv_freq_, rotary_factor_, position);
    const float* head_kv = kv.data() + hd * (nope + dv);
    std::copy(head_kv, head_kv + nope, k + hd * dq);
    std::copy(rotary_key, rotary_key + rope, k + hd * dq + nope);
    std::copy(head_kv + nope, head_kv + nope + dv, v + hd * dv);
  }
}

std::vector<std::pair<int64_t, double>> CpuModel::route(int layer, const float* h) const {
  const bridge::ModelConfig& c = config_;
  std::vector<float> logits(static_cast<size_t>(c.num_experts));
  matvec(param(static_cast<int>(ParamKind::kRouter), layer).data(), h, c.num_experts, c.hidden_size, logits.data());
  const float* bias = c.moe_expert_bias ? param(static_cast<int>(ParamKind::kRouterBias), layer).data() : nullptr;
  return route_token(c, logits.data(), bias);
}

std::vector<std::vector<int32_t>> CpuModel::generate(const std::vector<std::vector<int32_t>>& prompts,
                                                      const GenerateOptions& options, const TokenCallback& on_token) {
  if (config_.encoder)
    fail(Status::kUnsupported, config_.family, " is an encoder: it gives masked-LM logits (forward), not generation");
  return engine::generate(*this, prompts, options, on_token);
}

std::vector<float> CpuModel::encode(const std::vector<int32_t>& ids, const std::vector<int32_t>& token_types) const {
  if (!config_.encoder) fail(Status::kInvalidArgument, config_.family, " is not an encoder");
  if (!token_types.empty() && token_types.size() != ids.size())
    fail(Status::kInvalidArgument, ids.size(), " token ids but ", token_types.size(), " token types");
  CpuCache cache;
  return forward(&cache, ids, nullptr, token_types.empty() ? nullptr : &token_types);
}

std::vector<float> CpuModel::forward(const std::vector<int32_t>& ids) const {
  CpuCache cache;
  return forward(&cache, ids);
}

std::vector<float> CpuModel::forward_traced(const std::vector<int32_t>& ids, const ModuleHook& hook) {
  CpuCache cache;
  return forward(&cache, ids, &hook);
}

std::vector<float> CpuModel::forward(const std::vector<int32_t>& ids, const std::vector<Image>& images) {
  CpuCache cache;
  return std::as_const(*this).forward(&cache, ids, nullptr, nullptr, &images);
}

std::vector<float> CpuModel::forward(CpuCache* cache, const std::vector<int32_t>& ids, const ModuleHook* hook,
                                     const std::vector<int32_t>* token_types, const std::vector<Image>* images) const {
  forward_start(cache, ids, hook, token_types, images);
  return forward_finish(cache);
}

std::vector<float> CpuModel::forward_finish(CpuCache* cache) const {
  std::vector<float> logits = std::move(cache->pending_logits);
  cache->pending_logits.clear();
  if (role_ && !role_->plan.last_stage()) {  // the last stage's, for the rows begun
    logits.resize(static_cast<size_t>(cache->pending_rows * config_.vocab_size));
    role_->pipeline->recv(logits.data(), logits.size(), role_->plan.options.pp - 1);
  }
  cache->pending_rows = 0;
  return logits;
}

void CpuModel::forward_start(CpuCache* cache, const std::vector<int32_t>& ids, const ModuleHook* hook,
                             const std::vector<int32_t>* token_types, const std::vector<Image>* images) const {
  const bridge::ModelConfig& c = config_;
  const int64_t T = static_cast<int64_t>(ids.size()), H = c.hidden_size, d = c.kv_channels;
  const int64_t heads = c.num_attention_heads, groups = c.num_query_groups, per_group = heads / groups;
  // a query and key head has dq values, a value head dv (different under multi-latent attention)
  const int64_t dq = c.q_head_dim(), dv = c.v_dim(), k_row = groups * dq, v_row = groups * dv;
  const int64_t qkv_rows = (heads + 2 * groups) * d;
  const int64_t start = cache->length, total = start + T;  // positions of the new tokens: [start, total)
  const double depth_scale = c.scale_depth ? *c.scale_depth / std::sqrt(double(c.num_layers)) : 1.0;
  if (cache->keys.empty()) {
    cache->keys.resize(static_cast<size_t>(c.num_layers));
    cache->values.resize(static_cast<size_t>(c.num_layers));
  }

  for (int64_t t = 0; t < T; ++t)
    if (ids[t] < 0 || ids[t] >= c.vocab_size) fail(Status::kInvalidArgument, "token id ", ids[t], " out of range");
  const bool first_stage = !role_ || role_->plan.first_stage(), last_stage = !role_ || role_->plan.last_stage();
  std::vector<float> x(static_cast<size_t>(T * H));
  // a later stage starts from the residual stream the stage before it sent
  if (!first_stage) role_->pipeline->recv(x.data(), x.size(), role_->plan.pp_rank - 1);
  for (int64_t t = 0; first_stage && t < T; ++t) {  // this rank's vocabulary rows: the others' are zeros here
    const int64_t row = ids[t] - first_vocab_row();
    if (row < 0 || row >= vocab_rows_) continue;
    const std::vector<float>& embedding = param(static_cast<int>(ParamKind::kEmbedding));
    for (int64_t k = 0; k < H; ++k)
      x[t * H + k] = embedding[static_cast<size_t>(row * H + k)] * static_cast<float>(c.scale_emb.value_or(1.0));
  }
  if (first_stage) reduce_parts(x.data(), x.size());
  for (int64_t t = 0; first_stage && t < T; ++t) {
    if (c.learned_positions) {  // GPT-2: plus the position's own embedding
      if (start + t >= c.max_position_embeddings)
        fail(Status::kInvalidArgument, "position ", start + t, " is past the model's ", c.max_position_embeddings);
      const std::vector<float>& positions = param(static_cast<int>(ParamKind::kPositionEmbedding));
      for (int64_t k = 0; k < H; ++k) x[t * H + k] += positions[static_cast<size_t>((start + t) * H + k)];
    }
    if (c.num_token_types > 0) {  // BERT: plus the token type's (0 unless given)
      const int32_t type = token_types ? (*token_types)[static_cast<size_t>(t)] : 0;
      if (type < 0 || type >= c.num_token_types)
        fail(Status::kInvalidArgument, "token type ", type, " out of range [0, ", c.num_token_types, ")");
      const std::vector<float>& types = param(static_cast<int>(ParamKind::kTokenTypeEmbedding));
      for (int64_t k = 0; k < H; ++k) x[t * H + k] += types[static_cast<size_t>(type * H + k)];
    }
  }
  if (images && !images->empty() && !c.multimodal()) fail(Status::kInvalidArgument, c.family, " takes no images");
  // (a decode step's token is text even if it is the image placeholder: images come with the prompt)
  if (c.multimodal() && (start == 0 || (images && !images->empty()))) merge_images(ids, images, x.data());
  int64_t position_delta = cache->position_delta;
  std::vector<std::array<int64_t, 3>> mrope;
  if (!c.mrope_section.empty()) mrope = mrope_positions(ids, images, start, &position_delta);
  // with a hook: each module's output over the new positions, reported when the module is done
  std::vector<float> traced(hook ? static_cast<size_t>(T * H) : 0);
  auto report = [&](ModuleRecord r, const float* values) {
    size_t n = 1;
    for (int64_t d : r.output_shape) n *= static_cast<size_t>(d);
    set_output_stats(&r, values, n);
    (*hook)(r);
  };
  if (hook) report(embedding_record(c, vocab_rows_, T), x.data());

  std::vector<float> h(static_cast<size_t>(H)), qkv(c.mla ? 0 : static_cast<size_t>(qkv_rows));
  std::vector<float> queries(static_cast<size_t>(T * heads * dq));  // [position][head][dq]
  // BERT: the branches add to their normalised inputs (residual_after_norm), kept here for the attention's
  std::vector<float> normed(c.residual_after_norm ? static_cast<size_t>(T * H) : 0);
  std::vector<float> attn(static_cast<size_t>(heads * dv)), outs(static_cast<size_t>(T * H));
  const LayerRange layers = role_ ? stage_layers(c, role_->plan) : LayerRange{0, static_cast<int>(c.num_layers)};
  for (int layer = layers.first; layer < layers.end; ++layer) {
    std::vector<float>& keys = cache->keys[static_cast<size_t>(layer)];
    std::vector<float>& values = cache->values[static_cast<size_t>(layer)];
    keys.resize(static_cast<size_t>(total * k_row));
    values.resize(static_cast<size_t>(total * v_row));
    // q, k, v of the new positions; k and v join the cache
    for (int64_t t = 0; t < T; ++t) {
      norm(&x[t * H], ParamKind::kInputNorm, ParamKind::kInputNormBias, layer, h.data());
      if (hook) std::copy(h.begin(), h.end(), traced.begin() + t * H);
      if (c.residual_after_norm) std::copy(h.begin(), h.end(), normed.begin() + t * H);
      if (c.mla) {
        mla_project(layer, h.data(), start + t, &queries[t * heads * dq], &keys[(start + t) * k_row],
                    &values[(start + t) * v_row]);
        continue;
      }
      float* row = qkv.data();
      matvec(param(static_cast<int>(ParamKind::kQkv), layer).data(), h.data(), qkv_rows, H, row);
      if (c.qkv_bias) {
        const auto& b = param(static_cast<int>(ParamKind::kQkvBias), layer);
        for (int64_t r = 0; r < qkv_rows; ++r) row[r] += b[r];
      }
      // per query group: [q of its heads..., k, v]
      for (int64_t g = 0; g < groups; ++g) {
        float* group = row + g * (per_group + 2) * d;
        for (int64_t j = 0; j < per_group + 1; ++j) {  // the q heads and k
          float* head = group + j * d;
          if (c.qk_layernorm) {
            const auto& w = param(static_cast<int>(j < per_group ? ParamKind::kQNorm : ParamKind::kKNorm), layer);
            rms_norm(head, w.data(), d, c.norm_epsilon, head);
          }
          if (!mrope.empty()) rotate_mrope(head, d, inv_freq_, mrope[static_cast<size_t>(t)], c.mrope_section);
          else if (!c.learned_positions) rotate(head, d, inv_freq_, rotary_factor_, start + t);
        }
        std::copy(group, group + per_group * d, &queries[(t * heads + g * per_group) * d]);
        std::copy(group + per_group * d, group + (per_group + 1) * d, &keys[(start + t) * k_row + g * d]);
        std::copy(group + (per_group + 1) * d, group + (per_group + 2) * d, &values[(start + t) * v_row + g * d]);
      }
    }
    if (hook) report(layer_record(c, layer, LayerModule::kInputNorm, T), traced.data());
    const auto& proj = param(static_cast<int>(ParamKind::kProj), layer);
    const int64_t window = c.attention_window(layer);
    const double score_scale = c.attention_scale();
    for (int64_t t = 0; t < T; ++t) {
      const int64_t pos = start + t;
      for (int64_t hd = 0; hd < heads; ++hd) {
        const int64_t g = hd / per_group;
        const float* q = &queries[(t * heads + hd) * dq];
        // causal: every cached position up to this one (on a sliding layer, the last `window` of them); an
        // encoder's positions see every position
        const int64_t first = window > 0 ? std::max<int64_t>(0, pos - window + 1) : 0;
        const int64_t last = c.encoder ? total - 1 : pos;
        std::vector<double> scores(static_cast<size_t>(last + 1 - first));
        for (int64_t s = first; s <= last; ++s) {
          const float* k = &keys[s * k_row + g * dq];
          double dot = 0;
          for (int64_t i = 0; i < dq; ++i) dot += double(q[i]) * double(k[i]);
          dot *= score_scale;
          if (c.attn_logit_softcapping) dot = soft_cap(dot, *c.attn_logit_softcapping);
          scores[static_cast<size_t>(s - first)] = dot;
        }
        softmax(&scores);
        for (int64_t i = 0; i < dv; ++i) {
          double acc = 0;
          for (int64_t s = first; s <= last; ++s)
            acc += scores[static_cast<size_t>(s - first)] * values[s * v_row + g * dv + i];
          attn[hd * dv + i] = static_cast<float>(acc);
        }
      }
      matvec(proj.data(), attn.data(), H, heads * dv, &outs[t * H]);
      if (adds_row_parallel_bias()) add_bias(ParamKind::kProjBias, layer, H, &outs[t * H]);
    }
    reduce_parts(outs.data(), outs.size());
    for (int64_t t = 0; t < T; ++t) {
      float* out = &outs[t * H];
      if (hook) std::copy(out, out + H, traced.begin() + t * H);
      if (c.sandwich_norms)
        rms_norm(out, param(static_cast<int>(ParamKind::kPostAttnNorm), layer).data(), H, c.norm_epsilon, out);
      float* residual = c.residual_after_norm ? &normed[t * H] : &x[t * H];
      for (int64_t k = 0; k < H; ++k) x[t * H + k] = residual[k] + static_cast<float>(out[k] * depth_scale);
    }
    if (hook) report(layer_record(c, layer, LayerModule::kSelfAttention, T), traced.data());
    std::vector<float> mlp_traced(hook ? static_cast<size_t>(T * H) : 0);

    // MLP: gated (SwiGLU, GeGLU) or plain (GPT-2), or the router's top-k experts weighted by their
    // (renormalised) probabilities; in a parallel run, this rank's columns (or experts), summed over the ranks
    std::vector<double> mlps(static_cast<size_t>(T * H), 0.0);
    std::vector<float> mlp_inputs(c.residual_after_norm ? static_cast<size_t>(T * H) : 0);
    for (int64_t t = 0; t < T; ++t) {
      norm(&x[t * H], ParamKind::kPreMlpNorm, ParamKind::kPreMlpNormBias, layer, h.data());
      if (hook) std::copy(h.begin(), h.end(), traced.begin() + t * H);
      if (c.residual_after_norm) std::copy(h.begin(), h.end(), mlp_inputs.begin() + t * H);
      double* mlp = &mlps[t * H];
      auto dense_mlp = [&](const std::vector<float>& fc1, const std::vector<float>& fc2, int64_t ffn, double weight,
                           bool biases) {
        const int64_t rows = c.gated_mlp ? 2 * ffn : ffn;
        std::vector<float> fc1_out(static_cast<size_t>(rows)), act(static_cast<size_t>(ffn)), y(static_cast<size_t>(H));
        matvec(fc1.data(), h.data(), rows, H, fc1_out.data());
        if (biases) add_bias(ParamKind::kFc1Bias, layer, rows, fc1_out.data());
        for (int64_t i = 0; i < ffn; ++i)
          act[i] = activation(c.mlp_activation, fc1_out[i]) * (c.gated_mlp ? fc1_out[ffn + i] : 1.0f);
        matvec(fc2.data(), act.data(), H, ffn, y.data());
        if (biases && adds_row_parallel_bias()) add_bias(ParamKind::kFc2Bias, layer, H, y.data());
        for (int64_t k = 0; k < H; ++k) mlp[k] += weight * y[k];
      };
      if (!c.is_moe_layer(layer)) {
        dense_mlp(param(static_cast<int>(ParamKind::kFc1), layer), param(static_cast<int>(ParamKind::kFc2), layer),
                  c.ffn_hidden_size, 1.0, true);
      } else {
        for (const auto& [e, weight] : route(layer, h.data()))
          if (!role_ || holds_expert(c, role_->plan, static_cast<int>(e)))
            dense_mlp(param(static_cast<int>(ParamKind::kExpertFc1), layer, static_cast<int>(e)),
                      param(static_cast<int>(ParamKind::kExpertFc2), layer, static_cast<int>(e)), c.moe_ffn_hidden_size,
                      weight, false);
        if (c.moe_shared_expert_ffn > 0)  // DeepSeek: experts every token goes through, unweighted
          dense_mlp(param(static_cast<int>(ParamKind::kSharedFc1), layer),
                    param(static_cast<int>(ParamKind::kSharedFc2), layer), c.moe_shared_expert_ffn, 1.0, false);
      }
    }
    if (role_ && role_->plan.options.tp > 1) {  // (the parts travel as float32)
      std::vector<float> parts(mlps.begin(), mlps.end());
      reduce_parts(parts.data(), parts.size());
      std::copy(parts.begin(), parts.end(), mlps.begin());
    }
    for (int64_t t = 0; t < T; ++t) {
      double* mlp = &mlps[t * H];
      if (hook) std::copy(mlp, mlp + H, mlp_traced.begin() + t * H);
      if (c.sandwich_norms) {
        std::vector<float> y(mlp, mlp + H);
        rms_norm(y.data(), param(static_cast<int>(ParamKind::kPostMlpNorm), layer).data(), H, c.norm_epsilon, y.data());
        std::copy(y.begin(), y.end(), mlp);
      }
      const float* residual = c.residual_after_norm ? &mlp_inputs[t * H] : &x[t * H];
      for (int64_t k = 0; k < H; ++k) x[t * H + k] = residual[k] + static_cast<float>(mlp[k] * depth_scale);
    }
    if (hook) {
      report(layer_record(c, layer, LayerModule::kPreMlpNorm, T), traced.data());
      report(layer_record(c, layer, LayerModule::kMlp, T), mlp_traced.data());
    }
  }
  cache->length = total;
  cache->position_delta = position_delta;

  const int64_t V = c.vocab_size;
  cache->pending_rows = T;
  if (!last_stage) {  // the next stage goes on from here; the logits come back from the last (forward_finish)
    role_->pipeline->send(x.data(), x.size(), role_->plan.pp_rank + 1);
    return;
  }
  std::vector<float>& logits = cache->pending_logits;
  logits.assign(static_cast<size_t>(T * V), 0.0f);
  // each tensor-parallel rank computes the logits of its vocabulary rows, and they are gathered
  const int tp = role_ ? role_->plan.options.tp : 1;
  const int64_t P = tp > 1 ? vocab_rows_ : V;
  std::vector<float> part(tp > 1 ? static_cast<size_t>(T * P) : 0);
  const auto& head = param(static_cast<int>(c.tied_embeddings ? ParamKind::kEmbedding : ParamKind::kOutput));
  const float logit_scale = c.dim_model_base ? static_cast<float>(*c.dim_model_base / double(H)) : 1.0f;
  for (int64_t t = 0; t < T; ++t) {
    norm(&x[t * H], ParamKind::kFinalNorm, ParamKind::kFinalNormBias, -1, h.data());
    if (hook) std::copy(h.begin(), h.end(), traced.begin() + t * H);
    for (float& v : h) v *= logit_scale;
    if (c.encoder) lm_head_transform(&h);
    float* row = tp > 1 ? &part[t * P] : &logits[t * V];
    matvec(head.data(), h.data(), P, H, row);  // rows past the vocabulary are padding
    if (c.encoder) add_bias(ParamKind::kOutputBias, -1, P, row);
  }
  if (tp > 1) {  // [rank][row][P] -> [row][V]
    std::vector<float> all(static_cast<size_t>(tp) * part.size());
    role_->tensor->all_gather(part.data(), part.size(), all.data());
    for (int r = 0; r < tp; ++r)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t j = 0; j < P && r * P + j < V; ++j)
          logits[t * V + r * P + j] = all[static_cast<size_t>((r * T + t) * P + j)];
  }
  if (c.final_logit_softcapping)
    for (float& v : logits) v = static_cast<float>(soft_cap(v, *c.final_logit_softcapping));
  if (hook) {
    report(final_norm_record(c, T), traced.data());
    report(output_record(c, vocab_rows_, T), logits.data());
  }
  for (int stage = 0; role_ && stage < role_->plan.options.pp - 1; ++stage)
    role_->pipeline->send(logits.data(), logits.size(), stage);
}

}  // namespace mb::engine
