#include "engine/cuda/cuda_model.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <numeric>

#include "bridge/param_source.h"
#include "bridge/params.h"
#include "core/float_formats.h"
#include "core/tensor.h"
#include "engine/cuda/cuda_check.h"
#include "engine/cuda/cuda_model_impl.h"
#include "engine/cuda/device_collectives.h"
#include "engine/cuda/gemm.h"
#include "engine/rope.h"
#include "engine/routing.h"

namespace mb::engine {

using bridge::ParamKind;
using cuda::check;

namespace {

// transformers' DeepseekV3RMSNorm of the q and kv latents is built without the config's rms_norm_eps
constexpr float kMlaLatentNormEpsilon = 1e-6f;

// Norm weights and biases stay float32 (they are small and enter float32 arithmetic); the rest is bf16.
bool kept_in_float32(ParamKind k) {
  switch (k) {  // LLaVA's tower: norms, biases, class token and positions
    case ParamKind::kVisionClassToken:
    case ParamKind::kVisionPositionEmbedding:
    case ParamKind::kVisionPreNorm:
    case ParamKind::kVisionPreNormBias:
    case ParamKind::kVisionInputNorm:
    case ParamKind::kVisionInputNormBias:
    case ParamKind::kVisionQkvBias:
    case ParamKind::kVisionProjBias:
    case ParamKind::kVisionPreMlpNorm:
    case ParamKind::kVisionPreMlpNormBias:
    case ParamKind::kVisionFc1Bias:
    case ParamKind::kVisionFc2Bias:
    case ParamKind::kProjectorFc1Bias:
    case ParamKind::kProjectorFc2Bias: return true;
    default: break;
  }
  return bridge::is_norm_weight(k) || k == ParamKind::kQUpNorm || k == ParamKind::kKvUpNorm ||
         k == ParamKind::kRouterBias || k == ParamKind::kQkvBias || k == ParamKind::kInputNormBias ||
         k == ParamKind::kPreMlpNormBias || k == ParamKind::kFinalNormBias || k == ParamKind::kProjBias ||
         k == ParamKind::kFc1Bias || k == ParamKind::kFc2Bias || k == ParamKind::kLmHeadDenseBias ||
         k == ParamKind::kLmHeadNorm || k == ParamKind::kLmHeadNormBias || k == ParamKind::kOutputBias;
}

}  // namespace

CudaModel::Impl::Impl(const bridge::ParamSource& source, int device_index, const std::optional<RankRole>& rank_role)
    : config(source.config()), device(device_index) {
  const bridge::ModelConfig& c = config;
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    cudaGetLastError();
    fail(Status::kCuda, "the CUDA backend needs a GPU, and none is visible");
  }
  if (device < 0 || device >= count) fail(Status::kInvalidArgument, "GPU ", device, " requested, ", count, " visible");
  if ((!c.verbatim.empty() || !c.mrope_section.empty()) && c.family != "qwen2_5_vl")
    fail(Status::kUnsupported, source.path(), ": ", c.family, " (tensors kept under their Hugging Face names, or "
         "multimodal rotary positions) on the GPU");
  if (c.family == "qwen2_5_vl") qwen_tower = qwen_tower_shape(c);
  // multi-latent attention: every head its own group, q and k of nope + rope values, v padded to that size
  const int64_t head_dim = c.q_head_dim();
  if (head_dim % 2 || head_dim > 256)
    fail(Status::kUnsupported, source.path(), ": head dim ", head_dim, " (the CUDA kernels take even sizes up to 256)");
  if (c.mla && (c.v_head_dim > head_dim || c.qk_pos_emb_head_dim % 2))
    fail(Status::kUnsupported, source.path(), ": multi-latent attention with v_head_dim ", c.v_head_dim,
         " and rotary part ", c.qk_pos_emb_head_dim, " (the CUDA backend takes v no wider than q and k)");
  if (c.num_attention_heads % c.num_query_groups)
    fail(Status::kUnsupported, source.path(), ": ", c.num_attention_heads, " heads in ", c.num_query_groups, " groups");
  if (c.is_moe() && c.mlp_activation != "silu")
    fail(Status::kUnsupported, source.path(), ": mixture-of-experts layers with ", c.mlp_activation, " on the GPU");
  shape = {static_cast<int>(c.num_attention_heads), static_cast<int>(c.mla ? c.num_attention_heads : c.num_query_groups),
           static_cast<int>(head_dim)};
  shape.scale = static_cast<float>(c.attention_scale());
  rotary_factor = c.learned_positions ? 1.0 : rotary_attention_factor(c);  // (yarn: multi-latent attention only)
  shape.softcap = static_cast<float>(c.attn_logit_softcapping.value_or(0.0));
  const char* graphs = std::getenv("MB_CUDA_GRAPHS");
  use_graphs = !(graphs && std::strcmp(graphs, "0") == 0) && !c.is_moe();  // MoE routing synchronises with the host
  if (const char* rows = std::getenv("MB_CUDA_DECODE_MICRO_BATCH_ROWS")) {
    decode_micro_batch_rows = std::atoi(rows);
    if (decode_micro_batch_rows < 1)
      fail(Status::kInvalidArgument, "MB_CUDA_DECODE_MICRO_BATCH_ROWS=", rows, ": expected a number of rows >= 1");
  }
  if (rank_role && rank_role->plan.options.parallel()) {
    use_graphs = false;  // (a staged collective synchronises with the host)
    if (c.mla || c.encoder || c.multimodal())
      fail(Status::kUnsupported, source.path(), ": ", c.family, " in a parallel run on the GPU (the CPU backend runs it)");
  }

  check(cudaSetDevice(device), "selecting the GPU");
  role = rank_role;
  try {
    load(source);
    if (role) {  // the collectives on this model's stream
      role->tensor = cuda::on_stream(role->tensor, stream);
      role->pipeline = cuda::on_stream(role->pipeline, stream);
    }
  } catch (...) {
    release();  // the destructor does not run for a constructor that throws
    throw;
  }
}

void CudaModel::Impl::load(const bridge::ParamSource& source) {
  const bridge::ModelConfig& c = config;
  check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "creating a stream");
  check(cublasCreate(&cublas), "creating the cuBLAS handle");
  check(cublasSetStream(cublas, stream), "cublasSetStream");
  // a workspace of our own: cuBLAS then allocates nothing while a decode step is being captured
  const size_t workspace_bytes = 32u << 20;
  cublas_workspace = cuda::DeviceAllocation(workspace_bytes, "the cuBLAS workspace");
  check(cublasSetWorkspace(cublas, cublas_workspace.as<void>(), workspace_bytes), "cublasSetWorkspace");
  pool = std::make_unique<cuda::DevicePool>(device, stream);

  const std::vector<float> inv = c.learned_positions ? std::vector<float>{} : rotary_inverse_frequencies(c, source.path());
  inv_freq_host = inv;
  if (!inv.empty())
    inv_freq = static_cast<const float*>(upload(inv.data(), inv.size() * sizeof(float), "rotary frequencies"));

  layers.resize(static_cast<size_t>(c.num_layers));
  if (c.vision) vision.layers.resize(static_cast<size_t>(c.vision->num_layers));
  for (LayerWeights& l : layers) {
    l.expert_fc1.resize(static_cast<size_t>(c.num_experts));
    l.expert_fc2.resize(static_cast<size_t>(c.num_experts));
  }
  std::map<std::string, Tensor> qwen_tensors;
  for (const bridge::ParamInfo& p : source.params()) {
    const ParamKind kind = p.key.kind;
    if (kind == ParamKind::kCarried) continue;  // (LLaVA's tower layers past its features: never computed)
    if (kind == ParamKind::kVerbatim) {  // Qwen2.5-VL's tower, arranged once all of it is read
      qwen_tensors.emplace(c.verbatim.at(static_cast<size_t>(p.key.layer)).name, source.read(p).contiguous().to(DType::F32));
      continue;
    }
    Tensor t = source.read(p).contiguous().to(kept_in_float32(kind) ? DType::F32 : DType::BF16);
    if (c.norm_one_centered && bridge::is_norm_weight(kind))  // Gemma: w applied as 1 + w
      for (float *v = t.mutable_data_as<float>(), *end = v + t.numel(); v != end; ++v) *v += 1.0f;
    if (kind == ParamKind::kProj && c.mla) t = padded_mla_proj(t);
    const void* d = upload(t.data(), t.nbytes(), "a weight");
    const auto* f = static_cast<const float*>(d);
    const auto* b = static_cast<const bf16*>(d);
    LayerWeights* l = p.key.layer >= 0 && !bridge::is_vision(kind) ? &layers.at(static_cast<size_t>(p.key.layer)) : nullptr;
    auto vision_layer = [&](const bridge::ParamInfo& q) -> VisionWeights::Layer& {
      return vision.layers.at(static_cast<size_t>(q.key.layer));
    };
    const size_t e = static_cast<size_t>(std::max(p.key.expert, 0));
    switch (kind) {
      case ParamKind::kEmbedding: embedding = b; break;
      case ParamKind::kOutput: output = b; break;
      case ParamKind::kFinalNorm: final_norm_weight = f; break;
      case ParamKind::kInputNorm: l->input_norm = f; break;
      case ParamKind::kQkv: l->qkv = b; break;
      case ParamKind::kQkvBias: l->qkv_bias = f; break;
      case ParamKind::kQNorm: l->q_norm = f; break;
      case ParamKind::kKNorm: l->k_norm = f; break;
      case ParamKind::kProj: l->proj = b; break;
      case ParamKind::kPreMlpNorm: l->pre_mlp_norm = f; break;
      case ParamKind::kPostAttnNorm: l->post_attn_norm = f; break;
      case ParamKind::kPostMlpNorm: l->post_mlp_norm = f; break;
      case ParamKind::kPositionEmbedding: position_embedding = b; break;
      case ParamKind::kFinalNormBias: final_norm_bias = f; break;
      case ParamKind::kInputNormBias: l->input_norm_bias = f; break;
      case ParamKind::kPreMlpNormBias: l->pre_mlp_norm_bias = f; break;
      case ParamKind::kProjBias: l->proj_bias = f; break;
      case ParamKind::kFc1Bias: l->fc1_bias = f; break;
      case ParamKind::kFc2Bias: l->fc2_bias = f; break;
      case ParamKind::kTokenTypeEmbedding: token_type_embedding = b; break;
      case ParamKind::kLmHeadDense: lm_head_dense = b; break;
      case ParamKind::kLmHeadDenseBias: lm_head_dense_bias = f; break;
      case ParamKind::kLmHeadNorm: lm_head_norm = f; break;
      case ParamKind::kLmHeadNormBias: lm_head_norm_bias = f; break;
      case ParamKind::kOutputBias: output_bias = f; break;
      case ParamKind::kFc1: l->fc1 = b; break;
      case ParamKind::kFc2: l->fc2 = b; break;
      case ParamKind::kRouter: l->router = b; break;
      case ParamKind::kExpertFc1: l->expert_fc1.at(e) = b; break;
      case ParamKind::kExpertFc2: l->expert_fc2.at(e) = b; break;
      case ParamKind::kQDown: l->q_down = b; break;
      case ParamKind::kQUpNorm: l->q_up_norm = f; break;
      case ParamKind::kQUp: l->q_up = b; break;
      case ParamKind::kQProj: l->q_proj = b; break;
      case ParamKind::kKvDown: l->kv_down = b; break;
      case ParamKind::kKvUpNorm: l->kv_up_norm = f; break;
      case ParamKind::kKvUp: l->kv_up = b; break;
      case ParamKind::kRouterBias: {  // routing is planned on the host: a host copy
        l->router_bias.assign(t.data_as<float>(), t.data_as<float>() + t.numel());
        break;
      }
      case ParamKind::kSharedFc1: l->shared_fc1 = b; break;
      case ParamKind::kVisionPatchEmbedding: vision.patch = b; break;
      case ParamKind::kVisionClassToken: vision.class_token = f; break;
      case ParamKind::kVisionPositionEmbedding: vision.positions = f; break;
      case ParamKind::kVisionPreNorm: vision.pre_norm = f; break;
      case ParamKind::kVisionPreNormBias: vision.pre_norm_bias = f; break;
      case ParamKind::kProjectorFc1: vision.projector_fc1 = b; break;
      case ParamKind::kProjectorFc1Bias: vision.projector_fc1_bias = f; break;
      case ParamKind::kProjectorFc2: vision.projector_fc2 = b; break;
      case ParamKind::kProjectorFc2Bias: vision.projector_fc2_bias = f; break;
      case ParamKind::kVisionInputNorm: vision_layer(p).input_norm = f; break;
      case ParamKind::kVisionInputNormBias: vision_layer(p).input_norm_bias = f; break;
      case ParamKind::kVisionQkv: vision_layer(p).qkv = b; break;
      case ParamKind::kVisionQkvBias: vision_layer(p).qkv_bias = f; break;
      case ParamKind::kVisionProj: vision_layer(p).proj = b; break;
      case ParamKind::kVisionProjBias: vision_layer(p).proj_bias = f; break;
      case ParamKind::kVisionPreMlpNorm: vision_layer(p).pre_mlp_norm = f; break;
      case ParamKind::kVisionPreMlpNormBias: vision_layer(p).pre_mlp_norm_bias = f; break;
      case ParamKind::kVisionFc1: vision_layer(p).fc1 = b; break;
      case ParamKind::kVisionFc1Bias: vision_layer(p).fc1_bias = f; break;
      case ParamKind::kVisionFc2: vision_layer(p).fc2 = b; break;
      case ParamKind::kVisionFc2Bias: vision_layer(p).fc2_bias = f; break;
      case ParamKind::kSharedFc2: l->shared_fc2 = b; break;
      default: fail(Status::kInternal, source.path(), ": ", describe(p.key), " has no place in the CUDA model");
    }
  }
  if (qwen_tower) load_qwen_tower(qwen_tensors);
  if (c.tied_embeddings) output = embedding;
  vocab_rows = source.vocab_rows();
  if ((first_stage() && !embedding) || (last_stage() && (!output || !final_norm_weight)))
    fail(Status::kInternal, source.path(), ": embedding, output or final norm missing");
}

const void* CudaModel::Impl::upload(const void* data, size_t bytes, const char* what) {
  storage.emplace_back(bytes, what);
  check(cudaMemcpy(storage.back().as<void>(), data, bytes, cudaMemcpyHostToDevice), what);
  return storage.back().as<void>();
}

CudaModel::Impl::~Impl() { release(); }

void CudaModel::Impl::release() noexcept {
  if (stream) cudaStreamSynchronize(stream);
  pool.reset();
  storage.clear();
  cublas_workspace = cuda::DeviceAllocation();
  if (cublas) cublasDestroy(cublas);
  if (stream) cudaStreamDestroy(stream);
  cublas = nullptr;
  stream = nullptr;
}

Activations CudaModel::Impl::activations(int64_t rows, bool prefill) {
  const bridge::ModelConfig& c = config;
  const size_t R = static_cast<size_t>(rows), H = static_cast<size_t>(c.hidden_size);
  const size_t qkv = static_cast<size_t>(qkv_width()), heads_d = static_cast<size_t>(attention_width());
  const size_t k = static_cast<size_t>(std::max<int64_t>(c.moe_router_topk, 1));
  // the widest MLP: dense layers (all, or DeepSeek's first ones), experts, shared experts
  size_t ffn = static_cast<size_t>(c.is_moe() ? std::max(c.moe_ffn_hidden_size, c.moe_shared_expert_ffn) : 0);
  for (int64_t layer = 0; layer < c.num_layers; ++layer)
    if (!c.is_moe_layer(layer)) ffn = std::max(ffn, static_cast<size_t>(c.ffn_hidden_size));
  const size_t mlp_rows = c.is_moe() ? R * k : R;
  Activations a;
  a.rows = rows;
  a.x = pool->allocate_n<float>(R * H, "the residual stream");
  a.h = pool->allocate_n<bf16>(R * H, "normalised activations");
  a.qkv = pool->allocate_n<float>(R * qkv, "q, k, v");
  if (prefill) a.q = pool->allocate_n<bf16>(R * heads_d, "rotated queries");
  a.attn = pool->allocate_n<bf16>(R * heads_d, "attention output");
  a.delta = pool->allocate_n<float>(R * H, "layer output");
  a.gate_up = pool->allocate_n<float>(mlp_rows * 2 * ffn, "gate and up projections");
  a.act = pool->allocate_n<bf16>(mlp_rows * ffn, "SwiGLU output");
  if (c.is_moe()) {
    a.router_logits = pool->allocate_n<float>(R * static_cast<size_t>(c.num_experts), "router logits");
    a.top_experts = pool->allocate_n<int32_t>(R * k, "chosen experts");
    a.top_weights = pool->allocate_n<float>(R * k, "expert weights");
    a.moe_in = pool->allocate_n<bf16>(R * k * H, "expert inputs");
    a.moe_out = pool->allocate_n<float>(R * k * H, "expert outputs");
    a.gather_index = pool->allocate_n<int32_t>(R * k, "expert input rows");
    a.slot_rows = pool->allocate_n<int32_t>(R * k, "expert output rows");
  }
  if (c.mla) {
    const size_t heads = static_cast<size_t>(c.num_attention_heads);
    a.mla_q = pool->allocate_n<float>(R * heads_d, "multi-latent queries");
    a.mla_compressed = pool->allocate_n<float>(
        R * static_cast<size_t>(std::max(c.q_lora_rank, c.kv_lora_rank + c.qk_pos_emb_head_dim)), "latents");
    a.mla_latent = pool->allocate_n<bf16>(R * static_cast<size_t>(std::max(c.q_lora_rank, c.kv_lora_rank)),
                                          "normalised latents");
    a.mla_kv = pool->allocate_n<float>(R * heads * static_cast<size_t>(c.qk_head_dim + c.v_head_dim), "keys and values");
  }
  a.seq = pool->allocate_n<int32_t>(R, "row sequences");
  a.pos = pool->allocate_n<int32_t>(R, "row positions");
  return a;
}

KvCache CudaModel::Impl::kv_cache(int batch, int64_t length) {
  KvCache cache;
  cache.batch = batch;
  cache.length = length;
  cache.layer_elements = static_cast<size_t>(batch) * static_cast<size_t>(length) *
                       static_cast<size_t>(shape.groups) * static_cast<size_t>(shape.head_dim);
  const LayerRange here = layers_here();  // (a pipeline stage keeps its own layers' keys and values)
  const size_t n = cache.layer_elements * static_cast<size_t>(here.end - here.first);
  cache.k = pool->allocate_n<bf16>(n, "the key cache");
  cache.v = pool->allocate_n<bf16>(n, "the value cache");
  return cache;
}

std::vector<float> CudaModel::Impl::host_copy(const float* values, size_t count) {
  std::vector<float> out(count);
  check(cudaMemcpyAsync(out.data(), values, count * sizeof(float), cudaMemcpyDeviceToHost, stream), "copying a traced output");
  check(cudaStreamSynchronize(stream), "tracing a module");
  return out;
}

void CudaModel::Impl::trace(ModuleRecord record, const void* values, bool bf16_values, float scaled_by) {
  size_t n = 1;
  for (int64_t d : record.output_shape) n *= static_cast<size_t>(d);
  std::vector<float> host;
  if (bf16_values) {
    std::vector<uint16_t> bits(n);
    check(cudaMemcpyAsync(bits.data(), values, n * sizeof(uint16_t), cudaMemcpyDeviceToHost, stream), "copying a traced output");
    check(cudaStreamSynchronize(stream), "tracing a module");
    host.resize(n);
    for (size_t i = 0; i < n; ++i) host[i] = bf16_to_f32(bits[i]);
    record.dtype = "bfloat16";
  } else {
    host = host_copy(static_cast<const float*>(values), n);
  }
  if (scaled_by != 1.f)
    for (float& v : host) v /= scaled_by;
  set_output_stats(&record, host.data(), n);
  (*trace_hook)(record);
}

kernels::GateActivation CudaModel::Impl::gate_activation() const {
  if (config.mlp_activation == "gelu") return kernels::GateActivation::kGelu;
  return config.mlp_activation == "gelu_tanh" ? kernels::GateActivation::kGeluTanh : kernels::GateActivation::kSilu;
}

float CudaModel::Impl::depth_scale() const {
  const bridge::ModelConfig& c = config;
  return c.scale_depth ? static_cast<float>(*c.scale_depth / std::sqrt(double(c.num_layers))) : 1.f;
}

bool CudaModel::Impl::small_batch(const Activations& a) const {
  const bridge::ModelConfig& c = config;
  const bool aligned = reinterpret_cast<uintptr_t>(a.x.as<float>()) % 16 == 0 &&
                       reinterpret_cast<uintptr_t>(a.attn.as<bf16>()) % 16 == 0 &&
                       reinterpret_cast<uintptr_t>(a.act.as<bf16>()) % 16 == 0;
  // (the fused decode kernels know RMSNorm, gated MLPs and no biases: GPT-2 takes the general path)
  const bool fused_kinds = !c.layer_norm && c.gated_mlp && !c.linear_bias;
  // (tensor parallelism: the products' parts are summed before they join the residual stream)
  return !trace_hook && !tensor_parallel() && fused_kinds && !c.mla && a.rows >= 1 && a.rows <= kernels::kGemvMaxRows &&
         aligned && c.hidden_size % 8 == 0 && attention_width() % 8 == 0 && (c.is_moe() || c.ffn_hidden_size % 8 == 0);
}

void CudaModel::Impl::norm_into_h(Activations& a, const float* weight, float out_scale, const float* bias) {
  const bridge::ModelConfig& c = config;
  kernels::add_rms_norm(a.x.as<float>(), a.delta_pending ? a.delta.as<float>() : nullptr, depth_scale(), weight, a.rows,
                        c.hidden_size, static_cast<float>(c.norm_epsilon), out_scale, a.h.as<bf16>(), stream, bias,
                        c.residual_after_norm);
  a.delta_pending = false;
}

void CudaModel::Impl::attention(Activations& a, const LayerWeights& w, int layer, const AttentionPlan& plan, KvCache& cache) {
  const bridge::ModelConfig& c = config;
  const int64_t R = a.rows, H = c.hidden_size;
  const float eps = static_cast<float>(c.norm_epsilon);
  const int64_t qkv_rows = qkv_width();
  const bool small = small_batch(a);
  if (small) {
    kernels::gemv_rms_norm({a.x.as<float>(), w.input_norm, eps, 1.f}, R, H, w.qkv, qkv_rows, a.qkv.as<float>(), nullptr,
                           stream);
  } else {
    norm_into_h(a, w.input_norm, 1.f, w.input_norm_bias);
    if (trace_hook) trace(layer_record(c, layer, LayerModule::kInputNorm, R), a.h.as<bf16>(), true);
    if (c.mla)
      mla_qkv(a, w);
    else
      cuda::linear(cublas, a.h.as<bf16>(), R, H, w.qkv, qkv_rows, a.qkv.as<float>());
  }
  const float* rotary = c.mla ? nullptr : inv_freq;  // (mla_qkv rotates its own)
  const size_t slot = static_cast<size_t>(layer - layers_here().first);  // the stage's layer
  const kernels::QkvShape s = layer_shape(layer);
  // the layer's keys and values of the plan's sequences ([sequence][position][group][d] within a layer)
  const size_t first = static_cast<size_t>(plan.first_sequence) * static_cast<size_t>(cache.length) *
                       static_cast<size_t>(s.groups) * static_cast<size_t>(s.head_dim);
  bf16* k = cache.k.as<bf16>() + cache.layer_elements * slot + first;
  bf16* v = cache.v.as<bf16>() + cache.layer_elements * slot + first;
  if (plan.decode) {
    kernels::attention_decode({a.qkv.as<float>(), w.qkv_bias, w.q_norm, w.k_norm, eps, rotary, plan.rotary_offsets},
                              plan.positions,
                              plan.sequences, s, k, v, cache.length, plan.splits, plan.workspace, a.attn.as<bf16>(), stream);
  } else {
    kernels::rope_qkv(a.qkv.as<float>(), R, s, w.qkv_bias, w.q_norm, w.k_norm, eps, rotary, a.seq.as<int32_t>(),
                      a.pos.as<int32_t>(), a.q.as<bf16>(), k, v, cache.length, stream, plan.angles);
    kernels::attention_prefill(a.q.as<bf16>(), k, v, plan.offsets, plan.lengths, plan.sequences, plan.max_length, s,
                               cache.length, a.attn.as<bf16>(), stream);
  }
  if (small && !w.post_attn_norm) {
    kernels::gemv_accumulate(a.attn.as<bf16>(), R, attention_width(), w.proj, H, depth_scale(), a.x.as<float>(), stream);
    return;
  }
  if (small)
    kernels::gemv(a.attn.as<bf16>(), R, attention_width(), w.proj, H, a.delta.as<float>(), stream);
  else
    cuda::linear(cublas, a.attn.as<bf16>(), R, attention_width(), w.proj, H, a.delta.as<float>());
  if (w.proj_bias && adds_row_parallel_bias()) kernels::add_bias(a.delta.as<float>(), R, H, w.proj_bias, stream);
  reduce_parts(a.delta.as<float>(), R * H);
  if (trace_hook) trace(layer_record(c, layer, LayerModule::kSelfAttention, R), a.delta.as<float>(), false);
  branch_done(a, w.post_attn_norm);
}

// Multi-latent attention's projections, from the normalised a.h into a.qkv as the attention kernels take it.
void CudaModel::Impl::mla_qkv(Activations& a, const LayerWeights& w) {
  const bridge::ModelConfig& c = config;
  const int64_t R = a.rows, H = c.hidden_size, heads = c.num_attention_heads, d = c.q_head_dim();
  const int64_t kv_lora = c.kv_lora_rank, rope = c.qk_pos_emb_head_dim;
  float* latent = a.mla_compressed.as<float>();
  bf16* normed = a.mla_latent.as<bf16>();
  if (c.q_lora_rank > 0) {  // q: down, norm, up
    cuda::linear(cublas, a.h.as<bf16>(), R, H, w.q_down, c.q_lora_rank, latent);
    kernels::latent_rms_norm(latent, R, c.q_lora_rank, c.q_lora_rank, w.q_up_norm, kMlaLatentNormEpsilon, normed, stream);
    cuda::linear(cublas, normed, R, c.q_lora_rank, w.q_up, heads * d, a.mla_q.as<float>());
  } else {
    cuda::linear(cublas, a.h.as<bf16>(), R, H, w.q_proj, heads * d, a.mla_q.as<float>());
  }
  // kv: [latent | rotary key], the latent normalised and expanded into every head's [key | value]
  cuda::linear(cublas, a.h.as<bf16>(), R, H, w.kv_down, kv_lora + rope, latent);
  kernels::latent_rms_norm(latent, R, kv_lora + rope, kv_lora, w.kv_up_norm, kMlaLatentNormEpsilon, normed, stream);
  cuda::linear(cublas, normed, R, kv_lora, w.kv_up, heads * (c.qk_head_dim + c.v_head_dim), a.mla_kv.as<float>());
  const kernels::MlaShape s{static_cast<int>(heads), static_cast<int>(c.qk_head_dim), static_cast<int>(rope),
                            static_cast<int>(c.v_head_dim), static_cast<int>(kv_lora), static_cast<float>(rotary_factor)};
  kernels::mla_assemble(a.mla_q.as<float>(), latent, a.mla_kv.as<float>(), R, s, a.pos.as<int32_t>(), inv_freq,
                        a.qkv.as<float>(), stream);
}

// The output projection [hidden x heads * v] with zero columns after each head's v values, to take the
// attention output whose v is padded to the q/k head size.
Tensor CudaModel::Impl::padded_mla_proj(const Tensor& proj) const {
  const bridge::ModelConfig& c = config;
  const int64_t H = c.hidden_size, heads = c.num_attention_heads, dv = c.v_head_dim, d = c.q_head_dim();
  Tensor out = Tensor::zeros(DType::BF16, {H, heads * d});
  const auto* from = proj.data_as<uint16_t>();
  auto* to = out.mutable_data_as<uint16_t>();
  for (int64_t o = 0; o < H; ++o)
    for (int64_t h = 0; h < heads; ++h) std::copy_n(from + (o * heads + h) * dv, dv, to + (o * heads + h) * d);
  return out;
}

bool CudaModel::Impl::routed_on_host() const {
  const bridge::ModelConfig& c = config;
  return c.moe_score_function != "softmax" || c.moe_expert_bias || c.moe_router_num_groups > 1 ||
         c.moe_router_topk_scaling.has_value();
}

kernels::QkvShape CudaModel::Impl::layer_shape(int layer) const {
  kernels::QkvShape s = shape;
  s.window = static_cast<int>(config.attention_window(layer));
  s.causal = !config.encoder;
  return s;
}

void CudaModel::Impl::branch_done(Activations& a, const float* post_norm) {
  if (!post_norm) {
    a.delta_pending = true;
    return;
  }
  kernels::add_rms_normed(a.x.as<float>(), a.delta.as<float>(), post_norm, a.rows, config.hidden_size,
                          static_cast<float>(config.norm_epsilon), depth_scale(), stream);
}

void CudaModel::Impl::mlp(Activations& a, const LayerWeights& w, int layer) {
  const bridge::ModelConfig& c = config;
  const int64_t R = a.rows, H = c.hidden_size, F = c.ffn_hidden_size;
  if (c.is_moe_layer(layer)) {
    norm_into_h(a, w.pre_mlp_norm, 1.f);
    if (trace_hook) trace(layer_record(c, layer, LayerModule::kPreMlpNorm, R), a.h.as<bf16>(), true);
    // the experts add into the residual stream directly: traced, their output is the change they make
    std::vector<float> before;
    if (trace_hook) before = host_copy(a.x.as<float>(), static_cast<size_t>(R * H));
    moe(a, w);
    if (trace_hook) {
      std::vector<float> after = host_copy(a.x.as<float>(), before.size());
      if (a.delta_pending) {  // the shared experts' output, not yet added
        const std::vector<float> shared = host_copy(a.delta.as<float>(), before.size());
        for (size_t i = 0; i < after.size(); ++i) after[i] += shared[i] * depth_scale();
      }
      for (size_t i = 0; i < after.size(); ++i) after[i] = (after[i] - before[i]) / depth_scale();
      ModuleRecord r = layer_record(c, layer, LayerModule::kMlp, R);
      set_output_stats(&r, after.data(), after.size());
      (*trace_hook)(r);
    }
  } else if (small_batch(a)) {
    kernels::gemv_rms_norm_swiglu({a.x.as<float>(), w.pre_mlp_norm, static_cast<float>(c.norm_epsilon), 1.f}, R, H,
                                  w.fc1, F, a.act.as<bf16>(), stream, gate_activation());
    if (!w.post_mlp_norm) {
      kernels::gemv_accumulate(a.act.as<bf16>(), R, F, w.fc2, H, depth_scale(), a.x.as<float>(), stream);
      return;
    }
    kernels::gemv(a.act.as<bf16>(), R, F, w.fc2, H, a.delta.as<float>(), stream);
    branch_done(a, w.post_mlp_norm);
  } else {
    norm_into_h(a, w.pre_mlp_norm, 1.f, w.pre_mlp_norm_bias);
    if (trace_hook) trace(layer_record(c, layer, LayerModule::kPreMlpNorm, R), a.h.as<bf16>(), true);
    const int64_t fc1_rows = c.gated_mlp ? 2 * F : F;
    cuda::linear(cublas, a.h.as<bf16>(), R, H, w.fc1, fc1_rows, a.gate_up.as<float>());
    if (w.fc1_bias) kernels::add_bias(a.gate_up.as<float>(), R, fc1_rows, w.fc1_bias, stream);
    kernels::swiglu(a.gate_up.as<float>(), R, F, a.act.as<bf16>(), stream, gate_activation(), c.gated_mlp);
    cuda::linear(cublas, a.act.as<bf16>(), R, F, w.fc2, H, a.delta.as<float>());
    if (w.fc2_bias && adds_row_parallel_bias()) kernels::add_bias(a.delta.as<float>(), R, H, w.fc2_bias, stream);
    reduce_parts(a.delta.as<float>(), R * H);
    if (trace_hook) trace(layer_record(c, layer, LayerModule::kMlp, R), a.delta.as<float>(), false);
    branch_done(a, w.post_mlp_norm);
  }
}

void CudaModel::Impl::moe(Activations& a, const LayerWeights& w) {
  const bridge::ModelConfig& c = config;
  const int64_t R = a.rows, H = c.hidden_size, F = c.moe_ffn_hidden_size, E = c.num_experts, k = c.moe_router_topk;
  cuda::linear(cublas, a.h.as<bf16>(), R, H, w.router, E, a.router_logits.as<float>());
  std::vector<int32_t> chosen(static_cast<size_t>(R * k));
  if (routed_on_host()) {  // DeepSeek's sigmoid scores, expert bias, group limit and scaling
    const std::vector<float> logits = host_copy(a.router_logits.as<float>(), static_cast<size_t>(R * E));
    std::vector<float> weights(chosen.size());
    for (int64_t r = 0; r < R; ++r) {
      const auto picks = route_token(c, &logits[static_cast<size_t>(r * E)], w.router_bias.empty() ? nullptr : w.router_bias.data());
      for (int64_t j = 0; j < k; ++j) {
        chosen[static_cast<size_t>(r * k + j)] = static_cast<int32_t>(picks[static_cast<size_t>(j)].first);
        weights[static_cast<size_t>(r * k + j)] = static_cast<float>(picks[static_cast<size_t>(j)].second);
      }
    }
    check(cudaMemcpyAsync(a.top_weights.as<float>(), weights.data(), weights.size() * sizeof(float),
                          cudaMemcpyHostToDevice, stream), "uploading the expert weights");
  } else {
    kernels::moe_route(a.router_logits.as<float>(), R, static_cast<int>(E), static_cast<int>(k), c.moe_renormalize,
                       a.top_experts.as<int32_t>(), a.top_weights.as<float>(), stream);
    check(cudaMemcpyAsync(chosen.data(), a.top_experts.as<int32_t>(), chosen.size() * sizeof(int32_t),
                          cudaMemcpyDeviceToHost, stream), "copying the chosen experts");
    check(cudaStreamSynchronize(stream), "routing the experts");
  }
  // The rows each expert takes are planned on the host: one small copy and a synchronisation per layer.
  std::vector<int64_t> first(static_cast<size_t>(E + 1), 0);
  for (int32_t e : chosen) ++first[static_cast<size_t>(e) + 1];
  std::partial_sum(first.begin(), first.end(), first.begin());
  std::vector<int32_t> gather(chosen.size()), slot_rows(chosen.size());
  std::vector<int64_t> next(first.begin(), first.end() - 1);
  for (size_t s = 0; s < chosen.size(); ++s) {
    const int64_t row = next[static_cast<size_t>(chosen[s])]++;
    gather[static_cast<size_t>(row)] = static_cast<int32_t>(s / static_cast<size_t>(k));
    slot_rows[s] = static_cast<int32_t>(row);
  }
  check(cudaMemcpyAsync(a.gather_index.as<int32_t>(), gather.data(), gather.size() * sizeof(int32_t),
                        cudaMemcpyHostToDevice, stream), "uploading the expert rows");
  check(cudaMemcpyAsync(a.slot_rows.as<int32_t>(), slot_rows.data(), slot_rows.size() * sizeof(int32_t),
                        cudaMemcpyHostToDevice, stream), "uploading the expert rows");
  kernels::gather_rows(a.h.as<bf16>(), a.gather_index.as<int32_t>(), R * k, H, a.moe_in.as<bf16>(), stream);
  // expert parallelism: the experts of other ranks add nothing here
  const bool some_elsewhere = std::find(w.expert_fc1.begin(), w.expert_fc1.end(), nullptr) != w.expert_fc1.end();
  if (some_elsewhere)
    check(cudaMemsetAsync(a.moe_out.as<void>(), 0, static_cast<size_t>(R * k * H) * sizeof(float), stream), "expert outputs");
  for (int64_t e = 0; e < E; ++e) {
    const int64_t n = w.expert_fc1[e] ? first[e + 1] - first[e] : 0;
    if (n)
      cuda::linear(cublas, a.moe_in.as<bf16>() + first[e] * H, n, H, w.expert_fc1[e], 2 * F,
                   a.gate_up.as<float>() + first[e] * 2 * F);
  }
  kernels::swiglu(a.gate_up.as<float>(), R * k, F, a.act.as<bf16>(), stream);
  for (int64_t e = 0; e < E; ++e) {
    const int64_t n = w.expert_fc2[e] ? first[e + 1] - first[e] : 0;
    if (n)
      cuda::linear(cublas, a.act.as<bf16>() + first[e] * F, n, F, w.expert_fc2[e], H, a.moe_out.as<float>() + first[e] * H);
  }
  if (tensor_parallel()) {  // this rank's part of the layer's output, summed over the ranks, left pending
    check(cudaMemsetAsync(a.delta.as<void>(), 0, static_cast<size_t>(R * H) * sizeof(float), stream), "expert sums");
    kernels::moe_combine(a.moe_out.as<float>(), a.slot_rows.as<int32_t>(), a.top_weights.as<float>(), R,
                         static_cast<int>(k), H, 1.f, a.delta.as<float>(), stream);
    if (w.shared_fc1) {
      const int64_t S = c.moe_shared_expert_ffn;
      cuda::linear(cublas, a.h.as<bf16>(), R, H, w.shared_fc1, 2 * S, a.gate_up.as<float>());
      kernels::swiglu(a.gate_up.as<float>(), R, S, a.act.as<bf16>(), stream);
      cuda::linear(cublas, a.act.as<bf16>(), R, S, w.shared_fc2, H, a.moe_out.as<float>());
      const float one = 1.f;
      check(cublasSaxpy(cublas, static_cast<int>(R * H), &one, a.moe_out.as<float>(), 1, a.delta.as<float>(), 1),
            "adding the shared experts");
    }
    reduce_parts(a.delta.as<float>(), R * H);
    a.delta_pending = true;
    return;
  }
  kernels::moe_combine(a.moe_out.as<float>(), a.slot_rows.as<int32_t>(), a.top_weights.as<float>(), R, static_cast<int>(k),
                       H, depth_scale(), a.x.as<float>(), stream);
  if (w.shared_fc1) {  // DeepSeek's shared experts: every token, unweighted; left pending for the next norm
    const int64_t S = c.moe_shared_expert_ffn;
    cuda::linear(cublas, a.h.as<bf16>(), R, H, w.shared_fc1, 2 * S, a.gate_up.as<float>());
    kernels::swiglu(a.gate_up.as<float>(), R, S, a.act.as<bf16>(), stream);
    cuda::linear(cublas, a.act.as<bf16>(), R, S, w.shared_fc2, H, a.delta.as<float>());
    a.delta_pending = true;
  }
  // (gather and slot_rows may go now: pageable memory is staged before cudaMemcpyAsync returns)
}

void CudaModel::Impl::decoder(Activations& a, const AttentionPlan& plan, KvCache& cache) {
  if (plan.first_sequence < 0 || plan.sequences < 1 || plan.first_sequence + plan.sequences > cache.batch)
    fail(Status::kInternal, "attention over sequences [", plan.first_sequence, ", +", plan.sequences, ") of a cache of ",
         cache.batch);
  a.delta_pending = false;
  const size_t n = static_cast<size_t>(a.rows * config.hidden_size);
  // a later stage starts from the residual stream of the stage before it
  if (!first_stage()) role->pipeline->recv(a.x.as<float>(), n, role->plan.pp_rank - 1);
  const LayerRange here = layers_here();
  for (int i = here.first; i < here.end; ++i) {
    attention(a, layers[static_cast<size_t>(i)], i, plan, cache);
    mlp(a, layers[static_cast<size_t>(i)], i);
  }
  if (!last_stage()) {
    settle_residual(a);
    role->pipeline->send(a.x.as<float>(), n, role->plan.pp_rank + 1);
  }
}

LayerRange CudaModel::Impl::layers_here() const {
  return role ? stage_layers(config, role->plan) : LayerRange{0, static_cast<int>(config.num_layers)};
}

void CudaModel::Impl::reduce_parts(float* data, int64_t n) {
  if (tensor_parallel()) role->tensor->all_reduce_sum(data, static_cast<size_t>(n));
}

void CudaModel::Impl::settle_residual(Activations& a) {
  if (!a.delta_pending) return;
  const float scale = depth_scale();
  check(cublasSaxpy(cublas, static_cast<int>(a.rows * config.hidden_size), &scale, a.delta.as<float>(), 1,
                    a.x.as<float>(), 1), "adding a layer's output");
  a.delta_pending = false;
}

float CudaModel::Impl::logit_scale() const {
  const bridge::ModelConfig& c = config;
  return c.dim_model_base ? static_cast<float>(*c.dim_model_base / double(c.hidden_size)) : 1.f;
}

void CudaModel::Impl::final_norm(Activations& a) {
  if (last_stage()) norm_into_h(a, final_norm_weight, logit_scale(), final_norm_bias);  // (other stages hold none)
}

PromptLayout::PromptLayout(const std::vector<std::vector<int32_t>>& prompts, int64_t vocab_size) {
  for (size_t b = 0; b < prompts.size(); ++b) {
    const auto& p = prompts[b];
    if (p.empty()) fail(Status::kInvalidArgument, "prompt ", b, " is empty");
    offsets.push_back(static_cast<int32_t>(ids.size()));
    lengths.push_back(static_cast<int32_t>(p.size()));
    for (size_t t = 0; t < p.size(); ++t) {
      if (p[t] < 0 || p[t] >= vocab_size)
        fail(Status::kInvalidArgument, "prompt ", b, ": token id ", p[t], " out of range [0, ", vocab_size, ")");
      ids.push_back(p[t]);
      seq.push_back(static_cast<int32_t>(b));
      pos.push_back(static_cast<int32_t>(t));
    }
    last_rows.push_back(static_cast<int32_t>(ids.size() - 1));
    longest = std::max<int64_t>(longest, static_cast<int64_t>(p.size()));
  }
}

Activations CudaModel::Impl::prefill(const PromptLayout& layout, KvCache& cache, std::vector<int32_t>* rotary_offsets,
                                     int first_sequence) {
  const int B = layout.batch();
  Activations a = activations(layout.rows(), true);
  cuda::PoolBuffer ids_dev = pool->allocate_n<int32_t>(layout.ids.size(), "prompt ids");
  cuda::PoolBuffer plan_dev = pool->allocate_n<int32_t>(2 * static_cast<size_t>(B), "prompt offsets");
  auto h2d = [&](void* dst, const std::vector<int32_t>& v) {
    check(cudaMemcpyAsync(dst, v.data(), v.size() * sizeof(int32_t), cudaMemcpyHostToDevice, stream), "uploading the prompts");
  };
  h2d(ids_dev.as<int32_t>(), layout.ids);
  h2d(a.seq.as<int32_t>(), layout.seq);
  h2d(a.pos.as<int32_t>(), layout.pos);
  h2d(plan_dev.as<int32_t>(), layout.offsets);
  h2d(plan_dev.as<int32_t>() + B, layout.lengths);
  cuda::PoolBuffer types_dev;
  if (!layout.types.empty()) {
    types_dev = pool->allocate_n<int32_t>(layout.types.size(), "token types");
    h2d(types_dev.as<int32_t>(), layout.types);
  }
  embed(ids_dev.as<int32_t>(), a.pos.as<int32_t>(), layout.rows(), a.x.as<float>(), types_dev.as<int32_t>());
  if (config.vision) merge_images(layout, a.x.as<float>());
  if (qwen_tower) merge_qwen_images(layout, a.x.as<float>());
  cuda::PoolBuffer angles_dev;
  if (!config.mrope_section.empty()) {  // the rows' multimodal rotary angles
    const std::vector<float> angles = mrope_angles(layout, rotary_offsets);
    angles_dev = pool->allocate_n<float>(angles.size(), "rotary angles");
    check(cudaMemcpyAsync(angles_dev.as<void>(), angles.data(), angles.size() * sizeof(float), cudaMemcpyHostToDevice,
                          stream), "uploading the rotary angles");
  }
  if (trace_hook) trace(embedding_record(config, vocab_rows, layout.rows()), a.x.as<float>(), false);
  AttentionPlan plan;
  plan.offsets = plan_dev.as<int32_t>();
  plan.lengths = plan_dev.as<int32_t>() + B;
  plan.max_length = static_cast<int>(layout.longest);
  plan.angles = angles_dev.as<float>();
  plan.first_sequence = first_sequence;
  plan.sequences = B;
  decoder(a, plan, cache);
  final_norm(a);
  // (the norm's output here carries MiniCPM's logit scale; the module's own output does not)
  if (trace_hook) trace(final_norm_record(config, layout.rows()), a.h.as<bf16>(), true, logit_scale());
  return a;  // ids_dev and plan_dev are freed in stream order, after the kernels that read them
}

void CudaModel::Impl::embed(const int32_t* ids, const int32_t* positions, int64_t rows, float* x, const int32_t* types) {
  if (!first_stage()) return;  // (the decoder receives x from the stage before)
  // a tensor-parallel rank holds vocab_rows of the vocabulary: the others' ids are zeros here, then summed
  // (GPT-2's learned positions added by one rank)
  const bool one_rank = adds_row_parallel_bias();
  kernels::embedding(ids, rows, embedding, config.hidden_size, static_cast<float>(config.scale_emb.value_or(1.0)), x,
                     stream, one_rank ? position_embedding : nullptr, position_embedding ? positions : nullptr,
                     one_rank ? token_type_embedding : nullptr, types,
                     tensor_parallel() ? role->plan.tp_rank * vocab_rows : 0, tensor_parallel() ? vocab_rows : -1);
  reduce_parts(x, rows * config.hidden_size);
}

void CudaModel::Impl::lm_head(Activations& a) {
  const bridge::ModelConfig& c = config;
  const int64_t R = a.rows, H = c.hidden_size;
  cuda::linear(cublas, a.h.as<bf16>(), R, H, lm_head_dense, H, a.delta.as<float>());
  kernels::add_bias(a.delta.as<float>(), R, H, lm_head_dense_bias, stream, true, gate_activation());
  kernels::add_rms_norm(a.delta.as<float>(), nullptr, 1.f, lm_head_norm, R, H, static_cast<float>(c.norm_epsilon), 1.f,
                        a.h.as<bf16>(), stream, lm_head_norm_bias);
}

void CudaModel::Impl::logits(const bf16* h, int64_t rows, float* out) {
  const int64_t V = config.vocab_size;
  if (!tensor_parallel() && last_stage()) {
    cuda::linear(cublas, h, rows, config.hidden_size, output, V, out);
    if (output_bias) kernels::add_bias(out, rows, V, output_bias, stream);
    soft_cap_logits(out, rows);
  } else if (last_stage()) {  // each rank's vocabulary rows, gathered: [rank][row][P] -> [row][V]
    const int tp = role->plan.options.tp;
    const int64_t P = vocab_rows;
    cuda::PoolBuffer part = pool->allocate_n<float>(static_cast<size_t>(rows * P), "this rank's logits");
    cuda::PoolBuffer all = pool->allocate_n<float>(static_cast<size_t>(tp * rows * P), "every rank's logits");
    cuda::linear(cublas, h, rows, config.hidden_size, output, P, part.as<float>());
    role->tensor->all_gather(part.as<float>(), static_cast<size_t>(rows * P), all.as<float>());
    for (int r = 0; r < tp; ++r) {
      const int64_t width = std::min<int64_t>(P, V - r * P);
      if (width > 0)
        check(cudaMemcpy2DAsync(out + r * P, V * sizeof(float), all.as<float>() + r * rows * P, P * sizeof(float),
                                width * sizeof(float), rows, cudaMemcpyDeviceToDevice, stream), "gathering the logits");
    }
    soft_cap_logits(out, rows);
  }
}

void CudaModel::Impl::share_logits(float* out, int64_t rows) {
  if (role && role->plan.options.pp > 1)  // every stage ends with the last one's logits
    role->pipeline->broadcast(out, static_cast<size_t>(rows * config.vocab_size), role->plan.options.pp - 1);
}

void CudaModel::Impl::soft_cap_logits(float* out, int64_t rows) {
  if (config.final_logit_softcapping)
    kernels::soft_cap(out, rows * config.vocab_size, static_cast<float>(*config.final_logit_softcapping), stream);
}

bool CudaModel::Impl::argmax_in_output_layer(const Activations& a) const {
  // (the soft cap keeps the order of logits, but float32 tanh can make two of them equal, and the first of
  // equal maxima must win as on the capped logits)
  return small_batch(a) && !config.final_logit_softcapping && !parallel();
}

void CudaModel::Impl::step_logits(Activations& a, float* out, unsigned long long* argmax_keys) {
  const bridge::ModelConfig& c = config;
  if (small_batch(a) && !a.delta_pending && !parallel()) {
    kernels::gemv_rms_norm({a.x.as<float>(), final_norm_weight, static_cast<float>(c.norm_epsilon), logit_scale()},
                           a.rows, c.hidden_size, output, c.vocab_size, out, argmax_keys, stream);
    soft_cap_logits(out, a.rows);
    return;
  }
  if (argmax_keys) fail(Status::kInternal, "argmax keys asked of a decode step of ", a.rows, " rows");
  final_norm(a);
  logits(a.h.as<bf16>(), a.rows, out);
}

CudaModel::CudaModel(const bridge::ParamSource& source, int device, const std::optional<RankRole>& role)
    : impl_(std::make_unique<Impl>(source, device, role)) {}
CudaModel::~CudaModel() = default;
const bridge::ModelConfig& CudaModel::config() const { return impl_->config; }

std::vector<float> CudaModel::Impl::forward_rows(const PromptLayout& layout) {
  check(cudaSetDevice(device), "selecting the GPU");
  if (layout.ids.empty()) fail(Status::kInvalidArgument, "forward needs at least one token id");
  if (config.learned_positions && layout.rows() > config.max_position_embeddings)
    fail(Status::kInvalidArgument, layout.rows(), " tokens are past the model's ", config.max_position_embeddings,
         " learned positions");
  const int64_t T = layout.rows(), V = config.vocab_size;
  KvCache cache = kv_cache(1, T);
  Activations a = prefill(layout, cache);
  if (config.encoder) lm_head(a);
  cuda::PoolBuffer logits_dev = pool->allocate_n<float>(static_cast<size_t>(T * V), "logits");
  logits(a.h.as<bf16>(), T, logits_dev.as<float>());
  share_logits(logits_dev.as<float>(), T);
  std::vector<float> out(static_cast<size_t>(T * V));
  check(cudaMemcpyAsync(out.data(), logits_dev.as<float>(), out.size() * sizeof(float), cudaMemcpyDeviceToHost, stream),
        "copying the logits");
  check(cudaStreamSynchronize(stream), "the forward pass");
  if (trace_hook) {
    ModuleRecord r = output_record(config, vocab_rows, T);
    set_output_stats(&r, out.data(), out.size());
    (*trace_hook)(r);
  }
  return out;
}

std::vector<float> CudaModel::forward(const std::vector<int32_t>& ids) {
  if (ids.empty()) fail(Status::kInvalidArgument, "forward needs at least one token id");
  return impl_->forward_rows(PromptLayout({ids}, impl_->config.vocab_size));
}

std::vector<float> CudaModel::forward(const std::vector<int32_t>& ids, const std::vector<Image>& images) {
  if (ids.empty()) fail(Status::kInvalidArgument, "forward needs at least one token id");
  if (!images.empty() && !impl_->config.multimodal())
    fail(Status::kInvalidArgument, impl_->config.family, " takes no images");
  PromptLayout layout({ids}, impl_->config.vocab_size);
  layout.images = {images};
  return impl_->forward_rows(layout);
}

std::vector<float> CudaModel::encode(const std::vector<int32_t>& ids, const std::vector<int32_t>& token_types) {
  Impl& m = *impl_;
  if (!m.config.encoder) fail(Status::kInvalidArgument, m.config.family, " is not an encoder");
  if (ids.empty()) fail(Status::kInvalidArgument, "encode needs at least one token id");
  if (!token_types.empty() && token_types.size() != ids.size())
    fail(Status::kInvalidArgument, ids.size(), " token ids but ", token_types.size(), " token types");
  PromptLayout layout({ids}, m.config.vocab_size);
  for (int32_t t : token_types)
    if (t < 0 || t >= m.config.num_token_types)
      fail(Status::kInvalidArgument, "token type ", t, " out of range [0, ", m.config.num_token_types, ")");
  layout.types = token_types;
  return m.forward_rows(layout);
}

std::vector<float> CudaModel::forward_traced(const std::vector<int32_t>& ids, const ModuleHook& hook) {
  Impl& m = *impl_;
  m.trace_hook = &hook;
  try {
    std::vector<float> logits = forward(ids);
    m.trace_hook = nullptr;
    return logits;
  } catch (...) {
    m.trace_hook = nullptr;
    throw;
  }
}

}  // namespace mb::engine
