#include "bridge/megatron_writer.h"

#include <map>
#include <tuple>

#include "bridge/megatron_args.h"
#include "bridge/megatron_names.h"
#include "core/byte_sink.h"
#include "core/error.h"
#include "core/paths.h"
#include "io/megatron_legacy.h"
#include "io/megatron_tracker.h"
#include "io/safetensors.h"
#include "io/torch_dist.h"
#include "io/torch_save.h"

namespace mb::bridge {

struct MegatronWriter::Impl {
  struct RankFile {
    std::unique_ptr<OutputFile> file;
    std::unique_ptr<TorchSaveStream> stream;
    std::vector<pickle::Node*> models;  // one state dict per virtual pipeline chunk
  };

  std::string root;
  bool created_root = false;
  ModelConfig config;
  int64_t vocab_rows;
  MegatronTarget target;
  CheckpointMeta meta;
  std::vector<std::string> assets;
  bool finished = false;
  std::unique_ptr<TorchDistWriter> dist;
  std::unique_ptr<MegatronLegacyWriter> legacy;
  std::map<std::tuple<int, int, int>, RankFile> ranks;  // (tp, pp, ep)
  std::vector<std::pair<std::string, Tensor>> carried;  // Hugging Face tensors with no Megatron parameter

  const ParallelLayout& L() const { return target.layout; }
  bool moe() const { return config.is_moe(); }

  // Pipeline stage and virtual chunk holding a parameter.
  std::pair<int, int> stage_of(const ParamKey& k) const {
    LayerPlace p = place_param(config, L(), k);
    return {p.pp_rank, p.vpp_chunk};
  }
  int file_index(int tp, int pp, int ep) const { return (pp * L().ep + ep) * L().tp + tp; }

  // ---- torch_dist ----
  void write_dist(const ParamInfo& info, const Tensor& x) {
    write_dist_chunks(info, tp_chunks(x, tp_split_in(info, L().spec), L().tp));
  }

  void write_dist_chunks(const ParamInfo& info, const std::vector<TpChunk>& chunks) {
    const DistName name = dist_name(config, info.key, L().spec);
    const std::string& key = name.key;
    Dims global, prefix, lead;
    if (name.layer_axis) {
      global.push_back(name.layers);
      prefix.push_back(info.key.layer);
      lead.push_back(1);
    }
    int ep = 0;
    if (info.key.expert >= 0) {
      global.push_back(config.num_experts);
      prefix.push_back(info.key.expert);
      lead.push_back(1);
      ep = place_expert(config, L(), info.key.expert).ep_rank;
    }
    for (int64_t s : info.shape) global.push_back(s);
    const int pp = stage_of(info.key).first;
    for (const TpChunk& c : chunks) {
      Dims offsets = prefix, shape = lead;
      for (int64_t o : c.offsets) offsets.push_back(o);
      for (int64_t s : c.data.shape()) shape.push_back(s);
      dist->add_chunk(key, global, offsets, c.data.contiguous().reshape(shape), file_index(c.tp_rank, pp, ep));
    }
  }

  // ---- legacy ----
  RankFile& rank(int tp, int pp, int ep) {
    auto it = ranks.find({tp, pp, ep});
    if (it != ranks.end()) return it->second;
    RankFile r;
    r.file = std::make_unique<OutputFile>(legacy->rank_file_path(tp, pp, ep));
    r.stream = std::make_unique<TorchSaveStream>(*r.file, "model_optim_rng");
    for (int c = 0; c < L().vpp; ++c) r.models.push_back(r.stream->doc().dict(true));
    return ranks.emplace(std::make_tuple(tp, pp, ep), std::move(r)).first->second;
  }

  void put(RankFile& r, int chunk, const std::string& key, const Tensor& t) {
    pickle::Document& d = r.stream->doc();
    d.dict_set(r.models.at(static_cast<size_t>(chunk)), d.string(key), r.stream->tensor(t));
  }

  void write_legacy(const ParamInfo& info, const Tensor& x) {
    auto [pp, chunk] = stage_of(info.key);
    int local_layer = -1, local_expert = -1;
    std::vector<int> eps;
    if (info.key.layer >= 0) local_layer = place_param(config, L(), info.key).local_layer;
    if (info.key.expert >= 0) {
      ExpertPlace e = place_expert(config, L(), info.key.expert);
      local_expert = e.local_expert;
      eps.push_back(e.ep_rank);
    } else {
      for (int e = 0; e < L().ep; ++e) eps.push_back(e);  // dense parameters live on every expert rank
    }
    const std::string key =
        legacy_param_key(config, info.key.kind, info.key.layer, local_layer, local_expert, L().spec);
    std::vector<Tensor> shards = tp_split(x, tp_split_in(info, L().spec), L().tp);
    for (int t = 0; t < L().tp; ++t)
      for (int e : eps) put(rank(t, pp, e), chunk, key, shards[static_cast<size_t>(t)]);
    // With tied embeddings and pipeline stages, the last stage keeps its own copy as the output layer.
    if (info.key.kind == ParamKind::kEmbedding && config.tied_embeddings && L().pp > 1)
      for (int t = 0; t < L().tp; ++t)
        for (int e : eps)
          put(rank(t, L().pp - 1, e), L().vpp - 1, language_prefix(name_style(config)) + "output_layer.weight",
              shards[static_cast<size_t>(t)]);
  }

  // ---- finishing ----
  pickle::Node* common_dict(pickle::Document& d, const std::string& format) {
    pickle::Node* state = d.dict();
    d.dict_set(state, d.string("args"),
               make_megatron_args(d, config, L(), vocab_rows, format, target.iteration));
    d.dict_set(state, d.string("checkpoint_version"), d.number(3.0));
    d.dict_set(state, d.string("iteration"), d.integer(target.iteration));
    d.dict_set(state, d.string(kMetaKey), d.string(meta_to_json(meta)));
    return state;
  }

  void finish_dist() {
    // Megatron-Core stores every module's extra state as a ShardedObject: a torch.save of [state].
    TorchSaveWriter none_writer;
    MemorySink none_sink;
    none_writer.write(none_sink, none_writer.doc().list({none_writer.doc().none()}));
    const std::string none_bytes(none_sink.bytes().begin(), none_sink.bytes().end());
    for (int l = 0; l < config.num_layers; ++l) {
      const int pp = place_layer(config, L(), l).pp_rank;
      for (const std::string& key : dist_extra_state_keys(config, L().spec, l))
        dist->add_bytes(key, none_bytes, file_index(0, pp, 0));
    }
    for (const std::string& key : dist_vision_extra_state_keys(config, L().spec)) dist->add_bytes(key, none_bytes, file_index(0, 0, 0));
    // GPTModel drops its output layer's extra state from the checkpoint; BertModel asks for it
    if (config.encoder) dist->add_bytes(kOutputDistExtraState, none_bytes, file_index(0, L().pp - 1, 0));
    TorchSaveWriter cw;
    dist->set_common_state(cw, common_dict(cw.doc(), "torch_dist"));
    dist->finish();
  }

  void finish_legacy() {
    const int per_chunk = static_cast<int>(config.num_layers / (L().pp * L().vpp));
    const int local_experts = moe() ? static_cast<int>(config.num_experts / L().ep) : 0;
    for (int p = 0; p < L().pp; ++p)
      for (int e = 0; e < L().ep; ++e)
        for (int t = 0; t < L().tp; ++t) {
          RankFile& r = rank(t, p, e);
          pickle::Document& d = r.stream->doc();
          for (int c = 0; c < L().vpp; ++c) {
            for (int i = 0; i < per_chunk; ++i) {
              const int global_layer = layer_of(config, L(), p, c, i);
              for (const std::string& key : legacy_layer_extra_state_keys(config, L().spec, i, global_layer, local_experts))
                d.dict_set(r.models[static_cast<size_t>(c)], d.string(key), d.none());
            }
          }
          if (p == 0)
            for (const std::string& key : legacy_vision_extra_state_keys(config, L().spec))
              d.dict_set(r.models.front(), d.string(key), d.none());
          if (p == L().pp - 1)
            d.dict_set(r.models.back(), d.string(language_prefix(name_style(config)) + kOutputExtraState), d.none());
          pickle::Node* root_dict = common_dict(d, "torch");
          if (L().vpp == 1) {
            d.dict_set(root_dict, d.string("model"), r.models[0]);
          } else {
            for (int c = 0; c < L().vpp; ++c)
              d.dict_set(root_dict, d.string("model" + std::to_string(c)), r.models[static_cast<size_t>(c)]);
          }
          r.stream->finish(root_dict);
          r.file->commit(target.fsync);
          legacy->mark_written(t, p, e);
        }
  }

  // LLaVA's Hugging Face tensors that Megatron-Core's model has no place for, beside the checkpoint
  void write_carried() {
    if (carried.empty()) return;
    const std::string dir = join_path(root, kHfAssetsDir);
    make_directories(dir);
    std::vector<SafetensorsSpec> specs;
    for (const auto& [name, t] : carried) specs.push_back({name, t.dtype(), t.shape()});
    SafetensorsWriter w(join_path(dir, kCarriedFileName), specs, {});
    for (const auto& [name, t] : carried) w.write(name, t);
    w.finish(target.fsync);
  }

  void copy_assets() {
    if (assets.empty()) return;
    const std::string dir = join_path(root, kHfAssetsDir);
    make_directories(dir);
    for (const std::string& a : assets) write_file_atomic(join_path(dir, file_name(a)), read_text_file(a, size_t(1) << 30));
  }
};

MegatronWriter::MegatronWriter(std::string root, const ModelConfig& config, int64_t vocab_rows,
                               const MegatronTarget& target, CheckpointMeta meta, std::vector<std::string> assets)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.root = std::move(root);
  m.config = config;
  m.vocab_rows = vocab_rows;
  m.target = target;
  m.meta = std::move(meta);
  m.assets = std::move(assets);
  validate_layout(config, target.layout);
  if (target.format != Format::kTorchDist && target.format != Format::kMegatronLegacy)
    fail(Status::kInvalidArgument, "a Megatron checkpoint is written as torch_dist or megatron_legacy");
  if (path_exists(m.root) && !(is_directory(m.root) && list_directory(m.root).empty()))
    fail(Status::kInvalidArgument, m.root, ": already exists and is not empty; choose a new output folder");
  m.created_root = !path_exists(m.root);
  make_directories(m.root);
  for (const std::string& a : m.assets) m.meta.assets.push_back(file_name(a));
  if (target.format == Format::kTorchDist) {
    DistWriteOptions o;
    o.fsync = target.fsync;
    const int files = target.layout.tp * target.layout.pp * target.layout.ep;
    m.dist = std::make_unique<TorchDistWriter>(join_path(m.root, iteration_dir_name(target.iteration)), files, o);
  } else {
    m.legacy = std::make_unique<MegatronLegacyWriter>(m.root, target.iteration, target.layout.tp, target.layout.pp,
                                                      target.layout.ep);
  }
}

MegatronWriter::~MegatronWriter() {
  if (!impl_ || impl_->finished) return;
  impl_->ranks.clear();  // removes temporary rank files
  impl_->dist.reset();
  impl_->legacy.reset();
  if (impl_->created_root) remove_tree(impl_->root);
  else remove_tree(join_path(impl_->root, kHfAssetsDir));
}

void MegatronWriter::write(const ParamInfo& info, const Tensor& full) {
  if (info.key.kind == ParamKind::kCarried) {  // kept as the Hugging Face file has it (no dtype change)
    impl_->carried.emplace_back(impl_->config.carried.at(static_cast<size_t>(info.key.layer)).name, full.clone());
    return;
  }
  Tensor x = impl_->target.dtype ? full.to(*impl_->target.dtype) : full;
  if (impl_->dist) impl_->write_dist(info, x);
  else impl_->write_legacy(info, x);
}

void MegatronWriter::write_blocks(const ParamInfo& info, const std::vector<Tensor>& blocks) {
  if (blocks.size() == 2 && impl_->dist && info.split == TpSplit::kGatedColumn) {
    auto cast = [&](const Tensor& t) { return impl_->target.dtype ? t.to(*impl_->target.dtype) : t; };
    impl_->write_dist_chunks(info, tp_chunks_gated(cast(blocks[0]), cast(blocks[1]), impl_->L().tp));
    return;
  }
  write(info, blocks.size() == 1 ? blocks[0] : Tensor::cat(blocks, 0));
}

std::string MegatronWriter::finish() {
  Impl& m = *impl_;
  if (m.dist) m.finish_dist();
  else m.finish_legacy();
  m.write_carried();
  m.copy_assets();
  std::string dir;
  if (m.dist) {
    dir = join_path(m.root, iteration_dir_name(m.target.iteration));
    write_tracker(m.root, m.target.iteration);
  } else {
    dir = m.legacy->finish();
  }
  m.finished = true;
  return dir;
}

}  // namespace mb::bridge
