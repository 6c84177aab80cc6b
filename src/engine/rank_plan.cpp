#include "engine/rank_plan.h"

#include <algorithm>

#include "bridge/parallel_layout.h"
#include "core/error.h"

namespace mb::engine {

using bridge::ParamInfo;
using bridge::ParamKind;
using bridge::TpSplit;

RankPlan RankPlan::of(const ParallelOptions& options, int rank) {
  if (options.tp < 1 || options.pp < 1) fail(Status::kInvalidArgument, "tensor and pipeline parallel sizes must be at least 1");
  if (rank < 0 || rank >= options.tp * options.pp)
    fail(Status::kInvalidArgument, "rank ", rank, " of a run of ", options.tp * options.pp, " ranks");
  RankPlan p;
  p.options = options;
  p.tp_rank = rank % options.tp;
  p.pp_rank = rank / options.tp;
  return p;
}

std::vector<int> RankPlan::tensor_group() const {
  std::vector<int> ranks;
  for (int t = 0; t < options.tp; ++t) ranks.push_back(pp_rank * options.tp + t);
  return ranks;
}

std::vector<int> RankPlan::pipeline_group() const {
  std::vector<int> ranks;
  for (int s = 0; s < options.pp; ++s) ranks.push_back(s * options.tp + tp_rank);
  return ranks;
}

namespace {

bridge::ParallelLayout layout_of(const ParallelOptions& o) {
  bridge::ParallelLayout L;
  L.tp = o.tp;
  L.pp = o.pp;
  L.ep = o.expert_parallel ? o.tp : 1;
  return L;
}

// Whether the experts' own weights are split by columns (plain tensor parallelism) rather than given whole.
bool experts_split(const ParallelOptions& o) { return !o.expert_parallel; }

class RankSource final : public bridge::ParamSource {
 public:
  RankSource(const bridge::ParamSource& full, const RankPlan& plan) : full_(full), plan_(plan) {
    const bridge::ModelConfig& c = full.config();
    const ParallelOptions& o = plan.options;
    validate_parallel(c, o, full.path());
    path_ = cat(full.path(), " (rank ", plan.rank(), ": tensor-parallel ", plan.tp_rank, " of ", o.tp, ", stage ",
                plan.pp_rank, " of ", o.pp, ")");
    config_ = c;
    config_.num_attention_heads /= o.tp;
    config_.num_query_groups /= o.tp;
    config_.ffn_hidden_size /= o.tp;
    config_.moe_shared_expert_ffn /= o.tp;
    if (experts_split(o)) config_.moe_ffn_hidden_size /= o.tp;
    family_ = &full.family();
    vocab_rows_ = vocab_rows_per_rank(full.vocab_rows(), o.tp);
    const LayerRange layers = stage_layers(c, plan);
    const bridge::ParallelLayout L = layout_of(o);
    for (const ParamInfo& p : full.params()) {
      if (!holds(c, layers, L, p.key)) continue;
      ParamInfo mine = p;
      mine.shape = part_shape(p);
      params_.push_back(mine);
      by_key_.push_back(p);
    }
  }

  const char* kind() const override { return full_.kind(); }
  DType dtype(const ParamInfo& p) const override { return full_.dtype(source_info(p)); }
  // The rank's part, read as a slice of the full parameter: only those bytes where the source stores
  // parameters in pieces (a Megatron checkpoint of this layout: the rank's own chunks or shard files).
  Tensor read(const ParamInfo& p) const override {
    const ParamInfo& f = source_info(p);
    const int r = plan_.tp_rank;
    if (bridge::is_vocab(p.key.kind)) {  // this rank's rows, zeros past the source's
      const int64_t per = vocab_rows_, first = r * per;
      const int64_t have = std::clamp<int64_t>(f.shape[0] - first, 0, per);
      Tensor part = Tensor::zeros(full_.dtype(f), p.shape);
      if (have > 0) part.narrow(0, 0, have).copy_from(full_.read_slice(f, 0, first, have));
      return part;
    }
    if (whole(f))  // (as a slice too: a legacy checkpoint then reads a replicated parameter from one rank's file)
      return f.shape.size() > 0 ? full_.read_slice(f, 0, 0, f.shape[0]) : full_.read(f);
    if (f.split == TpSplit::kGatedColumn) {  // [gate_r; up_r]
      const int64_t half = f.shape[0] / 2, part = half / plan_.options.tp;
      return Tensor::cat({full_.read_slice(f, 0, r * part, part), full_.read_slice(f, 0, half + r * part, part)}, 0);
    }
    const int dim = f.split == TpSplit::kRow ? 1 : 0;
    const int64_t part = f.shape[dim] / plan_.options.tp;
    return full_.read_slice(f, dim, r * part, part).contiguous();
  }
  // (only what the rank reads whole: a read-ahead of the full parameter would read the other ranks' parts too)
  void prefetch(const ParamInfo& p) const override {
    const ParamInfo& f = source_info(p);
    if (!bridge::is_vocab(p.key.kind) && whole(f)) full_.prefetch(f);
  }
  void drop_pages() const override { full_.drop_pages(); }
  std::vector<std::string> assets() const override { return full_.assets(); }
  std::string hf_config_text() const override { return full_.hf_config_text(); }

 private:
  bool holds(const bridge::ModelConfig& c, const LayerRange& layers, const bridge::ParallelLayout& L,
             const bridge::ParamKey& key) const {
    if (key.layer >= 0 && bridge::is_per_layer(key.kind))
      return layers.contains(key.layer) && (key.expert < 0 || holds_expert(c, plan_, key.expert));
    // a tied output layer is the embedding: the last stage holds it too
    if (key.kind == ParamKind::kEmbedding && c.tied_embeddings && plan_.last_stage()) return true;
    return bridge::place_param(c, L, key).pp_rank == plan_.pp_rank;
  }

  // Whether the rank holds all of the parameter (replicated, no tensor parallelism, or a whole expert).
  bool whole(const ParamInfo& f) const {
    return f.split == TpSplit::kReplicated || plan_.options.tp == 1 ||
           (bridge::is_per_expert(f.key.kind) && !experts_split(plan_.options));
  }

  Dims part_shape(const ParamInfo& p) const {
    Dims shape = p.shape;
    const int tp = plan_.options.tp;
    if (bridge::is_vocab(p.key.kind)) {
      shape[0] = vocab_rows_;
      return shape;
    }
    if (whole(p)) return shape;
    shape[p.split == TpSplit::kRow ? 1 : 0] /= tp;
    return shape;
  }

  const ParamInfo& source_info(const ParamInfo& p) const {
    for (size_t i = 0; i < params_.size(); ++i)
      if (params_[i].key == p.key) return by_key_[i];
    fail(Status::kInternal, path_, ": ", bridge::describe(p.key), " is not this rank's");
  }

  const bridge::ParamSource& full_;
  RankPlan plan_;
  std::vector<ParamInfo> by_key_;  // the full parameter of each of params_
};

}  // namespace

void validate_parallel(const bridge::ModelConfig& c, const ParallelOptions& o, const std::string& path) {
  if (!o.parallel() && !o.expert_parallel) return;
  if (c.multimodal() || c.encoder)
    fail(Status::kUnsupported, path, ": ", c.family,
         " in a tensor- or pipeline-parallel run (images and encoders run on one rank)");
  if (o.expert_parallel && !c.is_moe())
    fail(Status::kInvalidArgument, path, ": expert parallelism needs a mixture-of-experts model, and ", c.family,
         " has no experts");
  try {
    bridge::validate_layout(c, layout_of(o));
  } catch (const Error& e) {
    fail(e.status(), path, ": ", e.what());
  }
}

LayerRange stage_layers(const bridge::ModelConfig& c, const RankPlan& plan) {
  const int per_stage = static_cast<int>(c.num_layers / plan.options.pp);
  return {plan.pp_rank * per_stage, (plan.pp_rank + 1) * per_stage};
}

std::vector<SequenceRange> micro_batches(int batch, int stages) {
  if (batch < 0 || stages < 1) fail(Status::kInvalidArgument, "micro-batches of ", batch, " sequences over ", stages, " stages");
  const int parts = std::min(batch, stages);
  std::vector<SequenceRange> out;
  int first = 0;
  for (int i = 0; i < parts; ++i) {
    const int size = batch / parts + (i < batch % parts ? 1 : 0);
    out.push_back({first, first + size});
    first += size;
  }
  return out;
}

bool holds_expert(const bridge::ModelConfig& c, const RankPlan& plan, int expert) {
  const bridge::ParallelLayout L = layout_of(plan.options);
  return L.ep == 1 || bridge::place_expert(c, L, expert).ep_rank == plan.tp_rank;
}

int64_t vocab_rows_per_rank(int64_t vocab_rows, int tp) { return (vocab_rows + tp - 1) / tp; }

std::unique_ptr<bridge::ParamSource> rank_source(const bridge::ParamSource& full, const RankPlan& plan) {
  return std::make_unique<RankSource>(full, plan);
}

}  // namespace mb::engine
