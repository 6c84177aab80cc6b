// Generation on the CUDA backend: every prompt in one prefill pass, then one decode step per new token for the
// whole batch (with pipeline stages, each pass is made per micro-batch of sequences, so that the stages
// overlap). A decode step reads its tokens and positions from device memory and leaves the next tokens (chosen
// on the device, greedy or sampled) and positions there, so it is captured once as a CUDA graph and replayed;
// the host copies back one token per sequence per step (and the logits of step 0, for the callback).
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

  // With pipeline stages the batch goes through in micro-batches of consecutive sequences, each on its rows of
  // the buffers below (a stage hands one on and begins the next; the last stage's logits are shared after all).
  const int stages = m.role ? m.role->plan.options.pp : 1;
  const std::vector<SequenceRange> prefill_parts = micro_batches(B, stages);
  const std::vector<SequenceRange> decode_parts =
      B / stages >= m.decode_micro_batch_rows ? prefill_parts : micro_batches(B, 1);
  // each prefill micro-batch's prompts back to back (every id checked), and the longest prompt of all
  std::vector<PromptLayout> layouts;
  int64_t longest = 0;
  for (const SequenceRange& r : prefill_parts) {
    layouts.emplace_back(std::vector<std::vector<int32_t>>(prompts.begin() + r.first, prompts.begin() + r.end), V);
    if (!options.images.empty())
      layouts.back().images.assign(options.images.begin() + r.first, options.images.begin() + r.end);
    longest = std::max(longest, layouts.back().longest);
  }
  if (m.config.learned_positions && longest + options.max_new_tokens - 1 > m.config.max_position_embeddings)
    fail(Status::kInvalidArgument, "a prompt of ", longest, " tokens and ", options.max_new_tokens,
         " new ones reach position ", longest + options.max_new_tokens - 2, ", past the model's ",
         m.config.max_position_embeddings, " learned positions");
  KvCache cache = m.kv_cache(B, longest + options.max_new_tokens);

  // decode-step state, all on the device: tokens in, positions, logits, per-sequence rows
  cuda::PoolBuffer tokens = m.pool->allocate_n<int32_t>(B, "tokens");
  cuda::PoolBuffer positions = m.pool->allocate_n<int32_t>(B, "positions");
  cuda::PoolBuffer step_logits = m.pool->allocate_n<float>(static_cast<size_t>(B) * V, "logits");
  cuda::PoolBuffer last_h = m.pool->allocate_n<bf16>(static_cast<size_t>(B) * H, "last hidden states");
  cuda::PoolBuffer last_index = m.pool->allocate_n<int32_t>(B, "last rows");
  auto logits_of = [&](const SequenceRange& r) { return step_logits.as<float>() + static_cast<size_t>(r.first) * V; };

  std::vector<int32_t> offsets;  // Qwen2.5-VL: how far each sequence's rotary position runs ahead of its length
  {  // prefill: the last row of each prompt gives its first new token
    for (size_t i = 0; i < prefill_parts.size(); ++i) {
      const SequenceRange& r = prefill_parts[i];
      const PromptLayout& part = layouts[i];
      std::vector<int32_t> part_offsets;
      Activations a = m.prefill(part, cache, &part_offsets, r.first);
      if (!part_offsets.empty()) {
        offsets.resize(static_cast<size_t>(B));
        std::copy(part_offsets.begin(), part_offsets.end(), offsets.begin() + r.first);
      }
      int32_t* index = last_index.as<int32_t>() + r.first;
      check(cudaMemcpyAsync(index, part.last_rows.data(), r.size() * sizeof(int32_t), cudaMemcpyHostToDevice, m.stream),
            "uploading the prompts");
      bf16* h = last_h.as<bf16>() + static_cast<size_t>(r.first) * H;
      kernels::gather_rows(a.h.as<bf16>(), index, r.size(), H, h, m.stream);
      m.logits(h, r.size(), logits_of(r));
      // the first new token's position is the prompt's length
      check(cudaMemcpyAsync(positions.as<int32_t>() + r.first, part.lengths.data(), r.size() * sizeof(int32_t),
                            cudaMemcpyHostToDevice, m.stream), "uploading the prompts");
    }
    for (const SequenceRange& r : prefill_parts) m.share_logits(logits_of(r), r.size());
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
  cuda::PoolBuffer rotary_offsets;
  if (!offsets.empty()) {
    rotary_offsets = m.pool->allocate_n<int32_t>(B, "rotary offsets");
    check(cudaMemcpyAsync(rotary_offsets.as<void>(), offsets.data(), B * sizeof(int32_t), cudaMemcpyHostToDevice, m.stream),
          "uploading the rotary offsets");
  }
  // each decode micro-batch: its rows' activations and attention plan (rows are its sequences, in order)
  struct DecodePart {
    SequenceRange seqs;
    Activations a;
    AttentionPlan plan;
    cuda::PoolBuffer workspace;
  };
  std::vector<DecodePart> parts;
  const int splits = kernels::attention_decode_splits(cache.length);
  for (const SequenceRange& r : decode_parts) {
    DecodePart p{r, m.activations(r.size(), false), {}, {}};
    const size_t workspace_bytes = kernels::attention_decode_workspace_bytes(r.size(), m.shape, splits);
    p.workspace = m.pool->allocate(workspace_bytes, "attention splits");
    check(cudaMemsetAsync(p.workspace.as<void>(), 0, workspace_bytes, m.stream), "clearing the attention splits");
    std::vector<int32_t> rows(static_cast<size_t>(r.size()));
    std::iota(rows.begin(), rows.end(), 0);
    check(cudaMemcpyAsync(p.a.seq.as<int32_t>(), rows.data(), rows.size() * sizeof(int32_t), cudaMemcpyHostToDevice,
                          m.stream), "rows");
    p.plan.decode = true;
    p.plan.rotary_offsets = offsets.empty() ? nullptr : rotary_offsets.as<int32_t>() + r.first;
    p.plan.positions = positions.as<int32_t>() + r.first;
    p.plan.splits = splits;
    p.plan.workspace = p.workspace.as<void>();
    p.plan.first_sequence = r.first;
    p.plan.sequences = r.size();
    parts.push_back(std::move(p));
  }
  // greedy steps of one or two sequences choose their tokens inside the output layer's kernel
  const bool argmax_in_output = greedy && parts.size() == 1 && m.argmax_in_output_layer(parts[0].a);
  cuda::PoolBuffer argmax_keys = m.pool->allocate_n<unsigned long long>(B, "argmax keys");
  check(cudaMemsetAsync(argmax_keys.as<void>(), 0, B * sizeof(unsigned long long), m.stream), "clearing the argmax keys");
  unsigned long long* keys = argmax_in_output ? argmax_keys.as<unsigned long long>() : nullptr;
  auto decode_step = [&] {
    for (DecodePart& p : parts) {
      const int n = p.seqs.size();
      check(cudaMemcpyAsync(p.a.pos.as<int32_t>(), p.plan.positions, n * sizeof(int32_t), cudaMemcpyDeviceToDevice,
                            m.stream), "positions");
      m.embed(tokens.as<int32_t>() + p.seqs.first, p.a.pos.as<int32_t>(), n, p.a.x.as<float>());
      m.decoder(p.a, p.plan, cache);
      m.step_logits(p.a, logits_of(p.seqs), keys);
    }
    for (DecodePart& p : parts) m.share_logits(logits_of(p.seqs), p.seqs.size());
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
