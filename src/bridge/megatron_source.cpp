// Full Megatron parameters from a Megatron checkpoint: torch_dist (global tensors, any chunking) or
// legacy rank files (tensor-parallel shards merged, pipeline and expert ranks located).
#include <map>
#include <mutex>
#include <set>
#include <tuple>

#include "bridge/megatron_args.h"
#include "bridge/megatron_names.h"
#include "bridge/param_source.h"
#include "bridge/registry.h"
#include "core/error.h"
#include "core/paths.h"
#include "io/bundle_reader.h"
#include "io/megatron_legacy.h"
#include "io/megatron_tracker.h"
#include "io/safetensors.h"
#include "io/torch_dist.h"

namespace mb::bridge {
namespace {

// What the checkpoint says about the model, in the order of trust: an explicit --hf-model, the
// config mbridge stored, the Megatron args.
struct Described {
  ModelConfig config;
  std::string hf_config_text;
  std::optional<CheckpointMeta> meta;
};

Described describe_model(const pickle::Node* state, const MegatronSourceOptions& o, const std::string& source) {
  Described d;
  const pickle::Node* meta = pickle::dict_get(state, kMetaKey);
  if (meta && meta->kind == pickle::Kind::kString) d.meta = meta_from_json(meta->text, source);
  if (!o.hf_model.empty()) {
    std::string file = is_directory(o.hf_model) ? join_path(o.hf_model, "config.json") : o.hf_model;
    d.hf_config_text = read_text_file(file);
    d.config = model_config_from_hf(parse_hf_config(json::parse(d.hf_config_text, file), file));
  } else if (d.meta && !d.meta->hf_config_text.empty()) {
    d.hf_config_text = d.meta->hf_config_text;
    d.config = model_config_from_hf(parse_hf_config(d.meta->hf_config, source + " (stored config.json)"));
  } else {
    d.config = model_config_from_args(pickle::dict_get(state, "args"), o.family, source);
  }
  return d;
}

// Optimizer state that a training run saved next to the model in the same torch_dist checkpoint: Megatron-Core
// names it "optimizer.state.<param key>" / "optimizer.distributed.dp_group_idx_N...."
// (megatron/core/optimizer/optimizer.py, distrib_optimizer.py), prefixed "chained_N." when several
// optimizers are chained (ChainedOptimizer: MoE expert parameters). A conversion reads the model only.
bool is_optimizer_state(const std::string& key) {
  size_t at = 0;
  if (key.rfind("chained_", 0) == 0) {
    at = 8;
    while (at < key.size() && key[at] >= '0' && key[at] <= '9') ++at;
    if (at == 8 || at >= key.size() || key[at] != '.') return false;
    ++at;
  }
  return key.compare(at, 10, "optimizer.") == 0;
}

std::string checkpoint_root(const std::string& path) {
  if (is_regular_file(join_path(path, kTrackerFileName))) return path;
  return parent_path(path);
}

// Tokenizer and generation files for an export: those of the --hf-model folder when one is given (they go
// with its config.json), else those mbridge stored in <root>/mbridge_hf/ at import.
std::vector<std::string> asset_paths(const std::string& root, const std::optional<CheckpointMeta>& meta,
                                     const MegatronSourceOptions& o) {
  if (!o.hf_model.empty() && is_directory(o.hf_model)) return hf_asset_files(o.hf_model);
  std::vector<std::string> out;
  if (!meta) return out;
  for (const std::string& a : meta->assets) {
    check_relative_name(a, root + " (mbridge metadata)", false);
    std::string p = join_path(join_path(root, kHfAssetsDir), a);
    if (is_regular_file(p)) out.push_back(p);
  }
  return out;
}

// LLaVA's Hugging Face tensors that Megatron-Core's model has no place for, which mbridge keeps beside the
// checkpoint (MegatronWriter); opened when the model has any.
std::shared_ptr<SafetensorsFile> open_carried(const std::string& root, const ModelConfig& c) {
  if (c.carried.empty()) return nullptr;
  const std::string file = join_path(join_path(root, kHfAssetsDir), kCarriedFileName);
  if (!is_regular_file(file))
    fail(Status::kNotFound, root, ": ", c.carried.size(), " tensor(s) of the Hugging Face model that Megatron does not "
         "hold (e.g. '", c.carried[0].name, "') should be in ", file, ", which is missing");
  return SafetensorsFile::open(file);
}

Tensor read_carried(const SafetensorsFile& f, const ModelConfig& c, const ParamInfo& p) {
  const std::string& name = c.carried.at(static_cast<size_t>(p.key.layer)).name;
  const SafetensorsEntry* e = f.find(name);
  if (!e) fail(Status::kNotFound, f.path(), ": no tensor '", name, "'");
  Tensor t = f.tensor(*e);
  if (t.shape() != p.shape)
    fail_format(f.path(), "'", name, "' is ", t.describe(), " but the model needs ", p.shape.to_string());
  return t;
}

// ---- torch_dist ------------------------------------------------------------------------------------------

class DistSource : public ParamSource {
 public:
  DistSource(const std::string& path, const MegatronSourceOptions& o) {
    path_ = path;
    ck_ = TorchDistCheckpoint::open(path);
    common_ = ck_->common_state();
    static const pickle::Node kEmpty;
    Described d = describe_model(common_.state ? common_.state : &kEmpty, o, ck_->directory());
    meta_ = d.meta;
    hf_text_ = d.hf_config_text;
    root_ = checkpoint_root(path);
    assets_ = asset_paths(root_, meta_, o);
    const std::string embedding = dist_key(ParamKind::kEmbedding, name_style(d.config), MegatronSpec::kLocal);
    const DistTensor* emb = ck_->find(embedding);
    if (!emb || emb->shape.size() != 2) fail_format(ck_->directory(), "no ", embedding, ": not a GPT model checkpoint");
    if (emb->shape[0] < d.config.vocab_size)
      fail_format(ck_->directory(), "the embedding has ", emb->shape[0], " rows but the vocabulary is ", d.config.vocab_size);
    int64_t rows = emb->shape[0];
    set_config(std::move(d.config), rows);
    carried_ = open_carried(root_, config_);
    // the MoE pre-MLP norm (MLA: the kv up-projection's norm) is spelled by the spec that wrote the checkpoint
    spec_ = MegatronSpec::kLocal;
    const NameStyle moe_style{true, config_.encoder, false, config_.vision != nullptr};
    if (config_.is_moe() && !config_.mla &&
        ck_->find(dist_key(ParamKind::kPreMlpNorm, moe_style, MegatronSpec::kTransformerEngine)))
      spec_ = MegatronSpec::kTransformerEngine;
    if (config_.mla && ck_->find(dist_name(config_, ParamKey{ParamKind::kKvUpNorm, 0}, MegatronSpec::kTransformerEngine).key))
      spec_ = MegatronSpec::kTransformerEngine;
    if (meta_) spec_ = meta_->layout.spec;
    for (const ParamInfo& p : params_) {
      if (p.key.kind == ParamKind::kCarried) continue;
      const DistTensor* t = find(p);
      Dims want = global_shape(p);
      if (t->shape != want)
        fail_format(ck_->directory(), "'", t->key, "' is ", t->shape.to_string(), " but the model (",
                    config_.num_layers, " layers", config_.is_moe() ? cat(", ", config_.num_experts, " experts") : "",
                    ") needs ", want.to_string());
    }
  }

  const char* kind() const override { return "torch_dist"; }
  DType dtype(const ParamInfo& p) const override {
    if (p.key.kind == ParamKind::kCarried) return read_carried(*carried_, config_, p).dtype();
    return find(p)->dtype;
  }

  Tensor read(const ParamInfo& p) const override {
    if (p.key.kind == ParamKind::kCarried) return read_carried(*carried_, config_, p);
    Dims start, size;
    region(p, &start, &size);
    return ck_->read_region(find(p)->key, start, size).reshape(p.shape);
  }

  Tensor read_slice(const ParamInfo& p, int dim, int64_t first, int64_t count) const override {
    check_slice(p, dim, first, count);
    if (p.key.kind == ParamKind::kCarried) return ParamSource::read_slice(p, dim, first, count);
    Dims start, size;
    region(p, &start, &size);
    const int at = start.size() - p.shape.size() + dim;  // (after the stacked layer and expert axes)
    start[at] = first;
    size[at] = count;
    Dims shape = p.shape;
    shape[dim] = count;
    return ck_->read_region(find(p)->key, start, size).reshape(shape);
  }

  void prefetch(const ParamInfo& p) const override {
    if (p.key.kind == ParamKind::kCarried) return;
    Dims start, size;
    region(p, &start, &size);
    ck_->prefetch_region(find(p)->key, start, size);
  }

  void finish() const override {
    std::set<std::string> known;
    for (const ParamInfo& p : params_)
      if (p.key.kind != ParamKind::kCarried) known.insert(find(p)->key);
    std::vector<std::string> unknown;
    for (const DistTensor& t : ck_->tensors())
      if (!known.count(t.key) && !is_optimizer_state(t.key)) unknown.push_back(t.key);
    if (!unknown.empty())
      fail(Status::kFormat, ck_->directory(), ": ", unknown.size(), " tensor(s) no ", family_->name,
           " parameter uses, e.g. '", unknown[0], "' (another architecture, or a module mbridge does not know?)");
  }

  std::vector<std::string> assets() const override { return assets_; }
  std::string hf_config_text() const override { return hf_text_; }
  void drop_pages() const override { ck_->drop_pages(); }
  ParallelLayout layout() const override {
    ParallelLayout L = meta_ ? meta_->layout : layout_from_args(pickle::dict_get(common_.state, "args"));
    L.spec = spec_;
    return L;
  }

 private:
  // Where p lies in its global tensor: layers (and experts) are stacked in front of its own dimensions.
  void region(const ParamInfo& p, Dims* start, Dims* size) const {
    if (dist_name(config_, p.key, spec_).layer_axis) {
      start->push_back(p.key.layer);
      size->push_back(1);
    }
    if (p.key.expert >= 0) {
      start->push_back(p.key.expert);
      size->push_back(1);
    }
    for (int64_t s : p.shape) {
      start->push_back(0);
      size->push_back(s);
    }
  }

  Dims global_shape(const ParamInfo& p) const {
    Dims g;
    if (const DistName n = dist_name(config_, p.key, spec_); n.layer_axis) g.push_back(n.layers);
    if (p.key.expert >= 0) g.push_back(config_.num_experts);
    for (int64_t s : p.shape) g.push_back(s);
    return g;
  }
  const DistTensor* find(const ParamInfo& p) const {
    const std::string key = dist_name(config_, p.key, spec_).key;
    const DistTensor* t = ck_->find(key);
    if (!t) fail(Status::kNotFound, ck_->directory(), ": no tensor '", key, "' (", describe(p.key), ")");
    return t;
  }

  std::shared_ptr<TorchDistCheckpoint> ck_;
  std::shared_ptr<SafetensorsFile> carried_;
  TorchDistCheckpoint::CommonState common_;
  std::optional<CheckpointMeta> meta_;
  std::vector<std::string> assets_;
  std::string hf_text_, root_;
  MegatronSpec spec_ = MegatronSpec::kLocal;
};

// ---- legacy ------------------------------------------------------------------------------------------------

class LegacySource : public ParamSource {
 public:
  LegacySource(const std::string& path, const MegatronSourceOptions& o) {
    path_ = path;
    ck_ = MegatronLegacyCheckpoint::open(path);
    const pickle::Node* root0 = ck_->rank_file(0).root();
    Described d = describe_model(root0, o, ck_->directory());
    meta_ = d.meta;
    hf_text_ = d.hf_config_text;
    root_ = checkpoint_root(path);
    assets_ = asset_paths(root_, meta_, o);
    layout_.tp = ck_->tp_size();
    layout_.pp = ck_->pp_size();
    layout_.ep = ck_->ep_size();
    layout_.vpp = static_cast<int>(ck_->models(0).size());
    // index every rank's state dicts by key
    bool any_spelled = false;
    for (size_t r = 0; r < ck_->ranks().size(); ++r) {
      const LegacyRank& rank = ck_->ranks()[r];
      auto models = ck_->models(r);
      if (static_cast<int>(models.size()) != layout_.vpp)
        fail_format(rank.file, "holds ", models.size(), " model chunks where rank 0 holds ", layout_.vpp);
      for (size_t chunk = 0; chunk < models.size(); ++chunk) {
        const pickle::Node* m = models[chunk].second;
        for (size_t k = 0; k + 1 < m->items.size(); k += 2) {
          const std::string& key = pickle::as_string(m->items[k], rank.file, "state dict key");
          const pickle::Node* v = m->items[k + 1];
          index_[{rank.tp, rank.pp, std::max(rank.ep, 0), static_cast<int>(chunk), key}] = {r, v};
          if (auto name = parse_legacy_key(key); name && name->spec_known && (!any_spelled || tells_mla_spec(*name))) {
            layout_.spec = name->spec;
            any_spelled = !d.config.mla || tells_mla_spec(*name);
          }
        }
      }
    }
    if (meta_) layout_.spec = meta_->layout.spec;
    // vocabulary rows: the embedding's TP shards together (named as this model names it)
    config_ = d.config;
    const int64_t rows = shard(ParamKind::kEmbedding, 0, 0, 0, 0, 0, -1, -1).shape()[0] * layout_.tp;
    if (rows < d.config.vocab_size)
      fail_format(ck_->directory(), "the embedding has ", rows, " rows but the vocabulary is ", d.config.vocab_size);
    set_config(std::move(d.config), rows);
    carried_ = open_carried(root_, config_);
    ParallelLayout check = layout_;
    validate_layout(config_, check);
  }

  const char* kind() const override { return "megatron_legacy"; }

  DType dtype(const ParamInfo& p) const override {
    if (p.key.kind == ParamKind::kCarried) return read_carried(*carried_, config_, p).dtype();
    return locate(p, 0).dtype;
  }

  Tensor read(const ParamInfo& p) const override {
    if (p.key.kind == ParamKind::kCarried) return read_carried(*carried_, config_, p);
    std::vector<Tensor> shards;
    for (int t = 0; t < layout_.tp; ++t) shards.push_back(locate(p, t).tensor);
    const TpSplit split = tp_split_in(p, layout_.spec);
    if (split == TpSplit::kReplicated)  // every tensor-parallel rank holds a copy: they must agree
      for (int t = 1; t < layout_.tp; ++t)
        if (!bitwise_equal(shards[0], shards[static_cast<size_t>(t)]))
          fail_format(ck_->directory(), describe(p.key), " differs between tensor-parallel ranks 0 and ", t);
    Tensor full = tp_merge(shards, split);
    if (full.shape() != p.shape)
      fail_format(ck_->directory(), describe(p.key), " assembled from ", layout_.tp, " shard(s) is ", full.describe(),
                  " but the model needs ", p.shape.to_string());
    return full;
  }

  // A slice inside one tensor-parallel shard is read from that rank's file alone, and a slice of a replicated
  // parameter from rank 0's (the copies are not compared then, as read() compares them); any other slice from
  // the merged parameter.
  Tensor read_slice(const ParamInfo& p, int dim, int64_t first, int64_t count) const override {
    check_slice(p, dim, first, count);
    if (p.key.kind == ParamKind::kCarried) return ParamSource::read_slice(p, dim, first, count);
    const int tp = layout_.tp;
    const TpSplit split = tp_split_in(p, layout_.spec);
    if (split == TpSplit::kReplicated || tp == 1) return shard_of(p, 0, split).narrow(dim, first, count);
    if (dim != (split == TpSplit::kRow ? 1 : 0)) return ParamSource::read_slice(p, dim, first, count);
    // where the slice starts in the shards: [gate; up] is [gate_r; up_r] on rank r
    const bool gated = split == TpSplit::kGatedColumn;
    const int64_t block = gated ? p.shape[0] / 2 : p.shape[dim];  // the extent the ranks divide
    const int64_t part = block / tp;
    if (part == 0) return ParamSource::read_slice(p, dim, first, count);
    const bool in_up = gated && first >= block;
    const int64_t at = first - (in_up ? block : 0);
    const int rank = static_cast<int>(at / part);
    const int64_t local = at % part;
    if (rank >= tp || local + count > part) return ParamSource::read_slice(p, dim, first, count);
    return shard_of(p, rank, split).narrow(dim, (in_up ? part : 0) + local, count);
  }

  void finish() const override {
    for (const auto& [where, entry] : index_) {
      const std::string& key = std::get<4>(where);
      if (used_.count(where) || entry.second->kind != pickle::Kind::kTensor) continue;
      if (key == language_prefix(name_style(config_)) + "output_layer.weight" && config_.tied_embeddings)
        continue;  // the last stage's tied copy
      fail(Status::kFormat, ck_->ranks()[entry.first].file, ": tensor '", key, "' is used by no ", family_->name,
           " parameter");
    }
  }

  std::vector<std::string> assets() const override { return assets_; }
  std::string hf_config_text() const override { return hf_text_; }
  ParallelLayout layout() const override { return layout_; }
  void drop_pages() const override {
    for (size_t r = 0; r < ck_->ranks().size(); ++r) ck_->rank_file(r).drop_pages();
  }

 private:
  using Where = std::tuple<int, int, int, int, std::string>;  // tp, pp, ep, chunk, key
  struct Found {
    Tensor tensor;
    DType dtype;
  };

  // An MLA checkpoint's input norm is spelled alike in both specs; its kv up-projection's norm tells them apart.
  static bool tells_mla_spec(const LegacyName& n) { return n.kind == ParamKind::kKvUpNorm; }

  // `global_layer`: the layer's index in the model (its names depend on whether it is dense or MoE)
  Tensor shard(ParamKind kind, int tp, int pp, int ep, int chunk, int local_layer, int local_expert, int global_layer) const {
    for (MegatronSpec spec : {layout_.spec, MegatronSpec::kLocal, MegatronSpec::kTransformerEngine}) {
      Where w{tp, pp, ep, chunk, legacy_param_key(config_, kind, global_layer, local_layer, local_expert, spec)};
      auto it = index_.find(w);
      if (it == index_.end()) continue;
      if (it->second.second->kind != pickle::Kind::kTensor)
        fail_format(ck_->ranks()[it->second.first].file, "'", std::get<4>(w), "' is not a tensor");
      {
        std::lock_guard<std::mutex> lock(mutex_);
        used_.insert(w);
        // dense parameters are repeated on every expert-parallel rank; the copies are not read
        if (ep == 0 && !is_per_expert(kind))
          for (int e = 1; e < layout_.ep; ++e) used_.insert({tp, pp, e, chunk, std::get<4>(w)});
      }
      return ck_->rank_file(it->second.first).tensor(it->second.second);
    }
    fail(Status::kNotFound, ck_->directory(), ": ", legacy_rank_dir(tp, pp, ep, layout_.pp > 1, layout_.ep > 1),
         (layout_.vpp > 1 ? cat(" model", chunk) : std::string()), " has no '",
         legacy_param_key(config_, kind, global_layer, local_layer, local_expert, layout_.spec), "'");
  }

  // Tensor-parallel rank t's shard of p, checked against the shape the split gives it.
  Tensor shard_of(const ParamInfo& p, int t, TpSplit split) const {
    Tensor x = locate(p, t).tensor;
    Dims want = p.shape;
    if (split != TpSplit::kReplicated) want[split == TpSplit::kRow ? 1 : 0] /= layout_.tp;
    if (x.shape() != want)
      fail_format(ck_->directory(), describe(p.key), " on tensor-parallel rank ", t, " is ", x.describe(),
                  " but the model needs ", want.to_string(), " there");
    return x;
  }

  Found locate(const ParamInfo& p, int t) const {
    int ep = 0, local_expert = -1;
    const LayerPlace place = place_param(config_, layout_, p.key);
    if (p.key.expert >= 0) {
      ExpertPlace e = place_expert(config_, layout_, p.key.expert);
      ep = e.ep_rank;
      local_expert = e.local_expert;
    }
    const int pp = place.pp_rank, chunk = place.vpp_chunk, local_layer = place.local_layer;
    Tensor x = shard(p.key.kind, t, pp, ep, chunk, local_layer, local_expert, p.key.layer);
    return {x, x.dtype()};
  }

  std::shared_ptr<MegatronLegacyCheckpoint> ck_;
  std::shared_ptr<SafetensorsFile> carried_;
  std::optional<CheckpointMeta> meta_;
  std::vector<std::string> assets_;
  std::string hf_text_, root_;
  ParallelLayout layout_;
  std::map<Where, std::pair<size_t, const pickle::Node*>> index_;
  mutable std::mutex mutex_;
  mutable std::set<Where> used_;
};

}  // namespace

bool is_megatron_checkpoint(const std::string& path) {
  if (!is_directory(path)) return false;
  IterationDir where = resolve_iteration_dir(path);
  return TorchDistCheckpoint::is_torch_dist_dir(where.directory) || MegatronLegacyCheckpoint::is_legacy_dir(where.directory);
}

std::unique_ptr<ParamSource> open_megatron_source(const std::string& path, const MegatronSourceOptions& options) {
  auto mount = mount_if_bundle(path);  // a bundle is read in place, as the checkpoint it holds
  IterationDir where = resolve_iteration_dir(path);
  std::unique_ptr<ParamSource> source;
  if (TorchDistCheckpoint::is_torch_dist_dir(where.directory)) source = std::make_unique<DistSource>(path, options);
  else if (MegatronLegacyCheckpoint::is_legacy_dir(where.directory)) source = std::make_unique<LegacySource>(path, options);
  if (source) {
    source->keep_alive(std::move(mount));
    return source;
  }
  fail(Status::kNotFound, path, ": neither a Hugging Face folder nor a Megatron checkpoint (torch_dist or mp_rank_*)");
}

}  // namespace mb::bridge
