// Generation on the CUDA backend: every prompt in one prefill pass, then one decode step per new token for the
// whole batch. A decode step reads its tokens and positions from device memory and leaves the next tokens
// (chosen on the device, greedy or sampled) and positions there, so it is captured once as a CUDA graph and
// replayed; the host copies back one token per sequence per step (and the logits of step 0, for the callback).
#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "engine/cuda/cuda_check.h"
#include "engine/cuda/cuda_model_impl.h"

namespace mb::engine {

using cuda::check;

namespace {

// A captured decode step, instantiated once per generate call.
class DecodeGraph {
 public:
  DecodeGraph() = default;
  DecodeGraph(const DecodeGraph&) = delete;
  DecodeGraph& operator=(const DecodeGraph&) = delete;
  ~DecodeGraph() {
    if (exec_) cudaGraphExecDestroy(exec_);
    if (graph_) cudaGraphDestroy(graph_);
  }
  template <typename Step>
  void capture(cudaStream_t stream, const Step& step) {
    check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "capturing a decode step");
    try {
      step();
    } catch (...) {
      cudaStreamEndCapture(stream, &graph_);
      throw;
    }
    check(cudaStreamEndCapture(stream, &graph_), "capturing a decode step");
    check(cudaGraphInstantiate(&exec_, graph_, 0), "instantiating the decode step's graph");
  }
  bool ready() const { return exec_ != nullptr; }
  void launch(cudaStream_t stream) { check(cudaGraphLaunch(exec_, stream), "launching the decode step"); }

 private:
  cudaGraph_t graph_ = nullptr;
  cudaGraphExec_t exec_ = nullptr;
};

}  // namespace

std::vector<std::vector<int32_t>> CudaModel::generate(const std::vector<std::vector<int32_t>>& prompts,
                                                      const GenerateOptions& options, const TokenCallback& on_token) {
  Impl& m = *impl_;
  check(cudaSetDevice(m.device), "selecting the GPU");
  if (options.max_new_tokens < 0) fail(Status::kInvalidArgument, "max_new_tokens must be >= 0");
  if (!options.images.empty() && options.images.size() != prompts.size())
    fail(Status::kInvalidArgument, options.images.size(), " image lists for ", prompts.size(), " prompts");
  if (!options.images.empty() && !m.config.multimodal())
    fail(Status::kInvalidArgument, m.config.family, " takes no images");
  if (m.config.encoder)
    fail(Status::kUnsupported, m.config.family, " is an encoder: it gives masked-LM logits (forward), not generation");
  const int B = static_cast<int>(prompts.size());
  const int64_t V = m.config.vocab_size, H = m.config.hidden_size;
  std::vector<std::vector<int32_t>> out(prompts.size());
  if (B == 0 || options.max_new_tokens == 0) return out;

  PromptLayout layout(prompts, V);
  layout.images = options.images;
  if (m.config.learned_positions && layout.longest + options.max_new_tokens - 1 > m.config.max_position_embeddings)
    fail(Status::kInvalidArgument, "a prompt of ", layout.longest, " tokens and ", options.max_new_tokens,
         " new ones reach position ", layout.longest + options.max_new_tokens - 2, ", past the model's ",
         m.config.max_position_embeddings, " learned positions");
  KvCache cache = m.kv_cache(B, layout.longest + options.max_new_tokens);

  // decode-step state, all on the device: tokens in, positions, logits, per-sequence rows
  cuda::PoolBuffer tokens = m.pool->allocate_n<int32_t>(B, "tokens");
  cuda::PoolBuffer positions = m.pool->allocate_n<int32_t>(B, "positions");
  cuda::PoolBuffer step_logits = m.pool->allocate_n<float>(static_cast<size_t>(B) * V, "logits");
  cuda::PoolBuffer last_h = m.pool->allocate_n<bf16>(static_cast<size_t>(B) * H, "last hidden states");
  cuda::PoolBuffer last_index = m.pool->allocate_n<int32_t>(B, "last rows");
  const int splits = kernels::attention_decode_splits(cache.length);
  const size_t workspace_bytes = kernels::attention_decode_workspace_bytes(B, m.shape, splits);
  cuda::PoolBuffer attn_workspace = m.pool->allocate(workspace_bytes, "attention splits");
  check(cudaMemsetAsync(attn_workspace.as<void>(), 0, workspace_bytes, m.stream), "clearing the attention splits");

  std::vector<int32_t> offsets;  // Qwen2.5-VL: how far each sequence's rotary position runs ahead of its length
  {  // prefill: the last row of each prompt gives its first new token
    Activations a = m.prefill(layout, cache, &offsets);
    check(cudaMemcpyAsync(last_index.as<int32_t>(), layout.last_rows.data(), B * sizeof(int32_t), cudaMemcpyHostToDevice,
                          m.stream), "uploading the prompts");
    // the first new token's position is the prompt's length
    check(cudaMemcpyAsync(positions.as<int32_t>(), layout.lengths.data(), B * sizeof(int32_t), cudaMemcpyHostToDevice,
                          m.stream), "uploading the prompts");
    kernels::gather_rows(a.h.as<bf16>(), last_index.as<int32_t>(), B, H, last_h.as<bf16>(), m.stream);
    m.logits(last_h.as<bf16>(), B, step_logits.as<float>());
  }

  const bool greedy = options.sampling.temperature <= 0;
  if (!greedy) (void)Sampler(options.sampling);  // refuses invalid options as the CPU reference does
  const kernels::SamplingParams sampling{options.sampling.temperature, options.sampling.top_k, options.sampling.top_p};
  // every sequence draws from its own copy of the seed's stream, as the CPU reference's samplers do
  cuda::PoolBuffer rng_states = m.pool->allocate_n<unsigned long long>(B, "sampling states");
  {
    const std::vector<unsigned long long> seeds(static_cast<size_t>(B), options.sampling.seed);
    check(cudaMemcpyAsync(rng_states.as<void>(), seeds.data(), seeds.size() * sizeof(seeds[0]), cudaMemcpyHostToDevice,
                          m.stream), "seeding the samplers");
  }
  auto choose_on_device = [&] {  // the tokens from step_logits (greedy steps of small batches choose in the output layer)
    if (greedy)
      kernels::argmax_rows(step_logits.as<float>(), B, V, V, tokens.as<int32_t>(), m.stream);
    else
      kernels::sample_rows(step_logits.as<float>(), B, V, V, sampling, rng_states.as<unsigned long long>(),
                           tokens.as<int32_t>(), m.stream);
  };
  Activations a = m.activations(B, false);
  // greedy steps of one or two sequences choose their tokens inside the output layer's kernel
  const bool argmax_in_output = greedy && m.argmax_in_output_layer(a);
  cuda::PoolBuffer argmax_keys = m.pool->allocate_n<unsigned long long>(B, "argmax keys");
  check(cudaMemsetAsync(argmax_keys.as<void>(), 0, B * sizeof(unsigned long long), m.stream), "clearing the argmax keys");
  unsigned long long* keys = argmax_in_output ? argmax_keys.as<unsigned long long>() : nullptr;
  {  // decode rows: row b is sequence b at its current position
    std::vector<int32_t> iota(static_cast<size_t>(B));
    std::iota(iota.begin(), iota.end(), 0);
    check(cudaMemcpyAsync(a.seq.as<int32_t>(), iota.data(), iota.size() * sizeof(int32_t), cudaMemcpyHostToDevice, m.stream), "rows");
  }
  cuda::PoolBuffer rotary_offsets;
  if (!offsets.empty()) {
    rotary_offsets = m.pool->allocate_n<int32_t>(B, "rotary offsets");
    check(cudaMemcpyAsync(rotary_offsets.as<void>(), offsets.data(), B * sizeof(int32_t), cudaMemcpyHostToDevice, m.stream),
          "uploading the rotary offsets");
  }
  AttentionPlan decode_plan;
  decode_plan.decode = true;
  decode_plan.rotary_offsets = rotary_offsets.as<int32_t>();
  decode_plan.positions = positions.as<int32_t>();
  decode_plan.splits = splits;
  decode_plan.workspace = attn_workspace.as<void>();
  auto decode_step = [&] {
    check(cudaMemcpyAsync(a.pos.as<int32_t>(), positions.as<int32_t>(), B * sizeof(int32_t), cudaMemcpyDeviceToDevice, m.stream), "positions");
    m.embed(tokens.as<int32_t>(), a.pos.as<int32_t>(), B, a.x.as<float>());
    m.decoder(a, decode_plan, cache);
    m.step_logits(a, step_logits.as<float>(), keys);
    if (!argmax_in_output) choose_on_device();
    kernels::advance_positions(positions.as<int32_t>(), B, keys, tokens.as<int32_t>(), m.stream);
  };
  DecodeGraph graph;

  std::vector<float> host_logits;
  std::vector<int32_t> chosen(static_cast<size_t>(B));
  std::vector<bool> done(static_cast<size_t>(B), false);
  int remaining = B;
  for (int64_t step = 0;; ++step) {
    // the logits of step 0 on the host, for the callback (the prefill's tokens are chosen here, not in a step)
    const bool need_logits = step == 0;
    if (need_logits) {
      host_logits.resize(static_cast<size_t>(B) * V);
      check(cudaMemcpyAsync(host_logits.data(), step_logits.as<float>(), host_logits.size() * sizeof(float),
                            cudaMemcpyDeviceToHost, m.stream), "copying the logits");
      choose_on_device();
    }
    check(cudaMemcpyAsync(chosen.data(), tokens.as<int32_t>(), B * sizeof(int32_t), cudaMemcpyDeviceToHost, m.stream), "tokens");
    check(cudaStreamSynchronize(m.stream), "a decode step");
    for (int b = 0; b < B; ++b) {
      if (done[b]) continue;
      const int32_t token = chosen[b];
      out[b].push_back(token);
      const float* logits = need_logits ? &host_logits[static_cast<size_t>(b) * V] : nullptr;
      const bool go_on = !on_token || on_token(static_cast<size_t>(b), step, token, logits);
      if (!go_on || std::find(options.stop_ids.begin(), options.stop_ids.end(), token) != options.stop_ids.end()) {
        done[b] = true;
        --remaining;
      }
    }
    if (remaining == 0 || step + 1 == options.max_new_tokens) break;
    // finished sequences keep being computed (the step's shape stays fixed); their tokens are ignored
    if (!m.use_graphs) {
      decode_step();
    } else {
      if (!graph.ready()) graph.capture(m.stream, decode_step);
      graph.launch(m.stream);
    }
  }
  check(cudaStreamSynchronize(m.stream), "generation");
  return out;
}

}  // namespace mb::engine
