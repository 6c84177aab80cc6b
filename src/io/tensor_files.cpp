#include "io/tensor_files.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>
#include <unordered_map>

#include "core/error.h"
#include "core/paths.h"
#include "io/bundle_reader.h"
#include "io/megatron_legacy.h"
#include "io/megatron_tracker.h"
#include "io/safetensors_sharded.h"
#include "io/torch_dist.h"

namespace mb {

const char* format_name(Format f) {
  switch (f) {
    case Format::kAuto: return "auto";
    case Format::kSafetensors: return "safetensors";
    case Format::kTorchSave: return "torch";
    case Format::kTorchDist: return "torch_dist";
    case Format::kMegatronLegacy: return "megatron_legacy";
  }
  return "?";
}

std::optional<Format> format_from_name(const std::string& name) {
  if (name == "auto") return Format::kAuto;
  if (name == "safetensors" || name == "hf") return Format::kSafetensors;
  if (name == "torch" || name == "pt") return Format::kTorchSave;
  if (name == "torch_dist" || name == "dist") return Format::kTorchDist;
  if (name == "megatron_legacy" || name == "legacy") return Format::kMegatronLegacy;
  return std::nullopt;
}

namespace {

bool starts_with(const std::string& s, const char* magic, size_t n) { return s.size() >= n && std::memcmp(s.data(), magic, n) == 0; }

std::string head_of(const std::string& file) {
  std::string text;
  FILE* f = std::fopen(file.c_str(), "rb");
  if (!f) fail(Status::kIo, file, ": cannot open");
  char buf[16];
  size_t n = std::fread(buf, 1, sizeof(buf), f);
  std::fclose(f);
  return std::string(buf, n);
}

}  // namespace

Format detect_format(const std::string& path) {
  if (is_regular_file(path) && !is_directory(path)) {  // (a mounted bundle is both: read as its folder)
    std::string head = head_of(path);
    if (starts_with(head, "PK\x03\x04", 4)) return Format::kTorchSave;
    if (head.size() >= 9 && head[8] == '{') return Format::kSafetensors;
    if (path.size() > 5 && path.compare(path.size() - 5, 5, ".json") == 0) return Format::kSafetensors;  // an index
    fail(Status::kUnsupported, path, ": not a safetensors or torch.save file");
  }
  if (!is_directory(path)) fail(Status::kNotFound, path, ": no such file or folder");
  if (is_regular_file(join_path(path, "model.safetensors.index.json")) ||
      is_regular_file(join_path(path, "model.safetensors")))
    return Format::kSafetensors;
  std::string dir = path;
  if (is_regular_file(join_path(path, kTrackerFileName))) dir = resolve_iteration_dir(path).directory;
  if (TorchDistCheckpoint::is_torch_dist_dir(dir)) return Format::kTorchDist;
  if (MegatronLegacyCheckpoint::is_legacy_dir(dir)) return Format::kMegatronLegacy;
  for (const std::string& name : list_directory(path))
    if (name.size() > 12 && name.compare(name.size() - 12, 12, ".safetensors") == 0) return Format::kSafetensors;
  fail(Status::kUnsupported, path, ": no checkpoint found (no safetensors, torch_dist or mp_rank_* files)");
}

const TensorInfo* TensorFiles::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

void TensorFiles::index_tensors() {
  index_.reserve(tensors_.size());
  for (size_t i = 0; i < tensors_.size(); ++i)
    if (!index_.emplace(tensors_[i].name, i).second)
      fail_format(path_, "two tensors are named '", tensors_[i].name, "'");
}

// ---- one adapter per format ----------------------------------------------------------------------------

namespace {

class SafetensorsFiles : public TensorFiles {
 public:
  explicit SafetensorsFiles(const std::string& path) : folder_(SafetensorsFolder::open(path)) {
    path_ = path;
    for (const std::string& name : folder_->names()) {
      auto r = folder_->find(name);
      tensors_.push_back({name, r.entry->dtype, r.entry->shape});
    }
    index_tensors();
  }
  Format format() const override { return Format::kSafetensors; }
  Tensor read(const std::string& name) const override { return folder_->tensor(name); }
  json::Value describe() const override {
    json::Value d = json::Value::object();
    json::Value files = json::Value::array();
    for (const auto& f : folder_->files()) files.push(file_name(f->path()));
    d.set("files", std::move(files));
    json::Value meta = json::Value::object();
    if (!folder_->files().empty())
      for (const auto& [k, v] : folder_->files()[0]->metadata()) meta.set(k, v);
    d.set("metadata", std::move(meta));
    if (const json::Value* m = folder_->index().find("metadata")) d.set("index_metadata", *m);
    return d;
  }

 private:
  std::shared_ptr<SafetensorsFolder> folder_;
};

class TorchSaveFiles : public TensorFiles {
 public:
  TorchSaveFiles(const std::string& path, const TorchLoadOptions& options) : file_(TorchSaveFile::open(path, options)) {
    path_ = path;
    for (auto& [name, node] : collect_tensors(file_->root(), "", file_->source())) {
      nodes_.emplace(name, node);
      tensors_.push_back({name, node->dtype, node->shape});
    }
    index_tensors();
  }
  Format format() const override { return Format::kTorchSave; }
  Tensor read(const std::string& name) const override {
    auto it = nodes_.find(name);
    if (it == nodes_.end()) fail(Status::kNotFound, path_, ": no tensor '", name, "'");
    return file_->tensor(it->second);
  }
  json::Value describe() const override {
    json::Value d = json::Value::object();
    d.set("root", pickle::kind_name(file_->root()->kind));
    return d;
  }

 private:
  std::shared_ptr<TorchSaveFile> file_;
  std::unordered_map<std::string, const pickle::Node*> nodes_;
};

json::Value namespace_summary(const pickle::Node* args) {
  // the plain fields of an argparse.Namespace (numbers, strings, bools), for humans
  json::Value out = json::Value::object();
  const pickle::Node* state = args ? args->state : nullptr;
  if (!state || state->kind != pickle::Kind::kDict) return out;
  for (size_t i = 0; i + 1 < state->items.size(); i += 2) {
    const pickle::Node* k = state->items[i];
    const pickle::Node* v = state->items[i + 1];
    if (k->kind != pickle::Kind::kString) continue;
    switch (v->kind) {
      case pickle::Kind::kInt: out.set(k->text, v->integer); break;
      case pickle::Kind::kFloat: if (std::isfinite(v->number)) out.set(k->text, v->number); break;
      case pickle::Kind::kString: out.set(k->text, v->text); break;
      case pickle::Kind::kBool: out.set(k->text, v->boolean); break;
      case pickle::Kind::kNone: out.set(k->text, json::Value()); break;
      case pickle::Kind::kDType: out.set(k->text, dtype_torch_name(v->dtype)); break;
      default: break;
    }
  }
  return out;
}

class TorchDistFiles : public TensorFiles {
 public:
  TorchDistFiles(const std::string& path, const TorchLoadOptions& options) : ck_(TorchDistCheckpoint::open(path, options)) {
    path_ = path;
    for (const DistTensor& t : ck_->tensors()) tensors_.push_back({t.key, t.dtype, t.shape});
    index_tensors();
  }
  Format format() const override { return Format::kTorchDist; }
  Tensor read(const std::string& name) const override { return ck_->read(name); }
  json::Value describe() const override {
    json::Value d = json::Value::object();
    d.set("directory", ck_->directory());
    if (ck_->iteration()) d.set("iteration", *ck_->iteration());
    std::set<std::string> files;
    size_t chunks = 0;
    for (const DistTensor& t : ck_->tensors()) {
      chunks += t.chunks.size();
      for (const DistChunk& c : t.chunks) files.insert(c.file);
    }
    json::Value f = json::Value::array();
    for (const std::string& x : files) f.push(x);
    d.set("files", std::move(f));
    d.set("chunks", static_cast<int64_t>(chunks));
    json::Value items = json::Value::array();
    for (const DistBytes& b : ck_->byte_items()) items.push(b.key);
    d.set("bytes_items", std::move(items));
    TorchDistCheckpoint::CommonState common = ck_->common_state();
    if (const pickle::Node* args = pickle::dict_get(common.state, "args")) d.set("args", namespace_summary(args));
    return d;
  }
  const TorchDistCheckpoint& checkpoint() const { return *ck_; }

 private:
  std::shared_ptr<TorchDistCheckpoint> ck_;
};

class LegacyFiles : public TensorFiles {
 public:
  LegacyFiles(const std::string& path, const TorchLoadOptions& options)
      : ck_(MegatronLegacyCheckpoint::open(path, options)) {
    path_ = path;
    for (size_t r = 0; r < ck_->ranks().size(); ++r) {
      const LegacyRank& rank = ck_->ranks()[r];
      const std::string& rank_dir = rank.dir_name;
      auto models = ck_->models(r);
      for (const auto& [model_name, model] : models) {
        std::string prefix = models.size() > 1 ? rank_dir + "/" + model_name + "/" : rank_dir + "/";
        for (auto& [key, node] : collect_tensors(model, "", ck_->rank_file(r).source())) {
          std::string name = prefix + key;
          where_.emplace(name, std::make_pair(r, node));
          tensors_.push_back({name, node->dtype, node->shape});
        }
      }
    }
    index_tensors();
  }
  Format format() const override { return Format::kMegatronLegacy; }
  Tensor read(const std::string& name) const override {
    auto it = where_.find(name);
    if (it == where_.end()) fail(Status::kNotFound, path_, ": no tensor '", name, "'");
    return ck_->rank_file(it->second.first).tensor(it->second.second);
  }
  json::Value describe() const override {
    json::Value d = json::Value::object();
    d.set("directory", ck_->directory());
    if (ck_->iteration()) d.set("iteration", *ck_->iteration());
    d.set("tensor_parallel", ck_->tp_size());
    d.set("pipeline_parallel", ck_->pp_size());
    d.set("expert_parallel", ck_->ep_size());
    d.set("args", namespace_summary(ck_->args()));
    return d;
  }

 private:
  std::shared_ptr<MegatronLegacyCheckpoint> ck_;
  std::unordered_map<std::string, std::pair<size_t, const pickle::Node*>> where_;
};

}  // namespace

std::unique_ptr<TensorFiles> open_tensor_files(const std::string& path, Format format, const TorchLoadOptions& options) {
  auto mount = mount_if_bundle(path);  // a bundle is read in place, as the folder it holds
  if (format == Format::kAuto) format = detect_format(path);
  std::unique_ptr<TensorFiles> files;
  switch (format) {
    case Format::kSafetensors: files = std::make_unique<SafetensorsFiles>(path); break;
    case Format::kTorchSave: files = std::make_unique<TorchSaveFiles>(path, options); break;
    case Format::kTorchDist: files = std::make_unique<TorchDistFiles>(path, options); break;
    case Format::kMegatronLegacy: files = std::make_unique<LegacyFiles>(path, options); break;
    case Format::kAuto: fail(Status::kInternal, "unreachable format");
  }
  files->keep_alive(std::move(mount));
  return files;
}

// ---- transcoding ------------------------------------------------------------------------------------------

namespace {

DType target_dtype(const TensorInfo& t, const TranscodeOptions& o) {
  return o.dtype && dtype_is_floating(t.dtype) ? *o.dtype : t.dtype;
}

uint64_t total_bytes(const TensorFiles& src) {
  uint64_t n = 0;
  for (const TensorInfo& t : src.tensors()) {
    uint64_t b = 0;
    checked_nbytes(t.shape, dtype_size(t.dtype), &b);
    n += b;
  }
  return n;
}

}  // namespace

std::vector<std::string> transcode(const TensorFiles& src, const std::string& out, const TranscodeOptions& o) {
  if (path_exists(out)) fail(Status::kInvalidArgument, out, ": already exists; choose a new output path");
  Progress progress(o.progress, "transcode", total_bytes(src));
  auto next = [&](const TensorInfo& t) {
    Tensor x = src.read(t.name).to(target_dtype(t, o));
    progress.advance(x.nbytes());
    return x;
  };
  std::vector<std::string> written;
  switch (o.format) {
    case Format::kSafetensors: {
      std::vector<SafetensorsSpec> specs;
      for (const TensorInfo& t : src.tensors()) specs.push_back({t.name, target_dtype(t, o), t.shape});
      ShardOptions so;
      so.max_shard_bytes = o.max_shard_bytes;
      try {
        SafetensorsFolderWriter w(out, specs, so);
        for (const TensorInfo& t : src.tensors()) w.write(t.name, next(t));
        for (const std::string& f : w.finish()) written.push_back(join_path(out, f));
      } catch (...) {
        remove_tree(out);
        throw;
      }
      break;
    }
    case Format::kTorchSave: {
      TorchSaveWriter w;
      pickle::Node* root = w.doc().dict(true);
      for (const TensorInfo& t : src.tensors()) w.doc().dict_set(root, w.doc().string(t.name), w.tensor(next(t)));
      TorchSaveWriteOptions wo;
      std::string stem = file_name(out);
      wo.archive_name = stem.substr(0, stem.find('.'));
      if (wo.archive_name.empty()) wo.archive_name = "archive";
      w.write_file(out, root, wo);
      written.push_back(out);
      break;
    }
    case Format::kTorchDist: {
      std::optional<int64_t> iteration = 1;
      const TorchDistCheckpoint* dist_src = nullptr;
      if (auto* d = dynamic_cast<const TorchDistFiles*>(&src)) {
        dist_src = &d->checkpoint();
        iteration = dist_src->iteration();
      }
      make_directories(out);
      try {
        TorchDistWriter w(join_path(out, iteration_dir_name(iteration)), o.files);
        for (const TensorInfo& t : src.tensors()) w.add_tensor(t.name, next(t), 0, o.chunks);
        if (dist_src) {  // keep Megatron's objects (extra state, rng state, common state) as they were
          int f = 0;
          for (const DistBytes& b : dist_src->byte_items()) {
            if (b.key == "common_state/shard_0_1") continue;
            ByteView v = dist_src->read_bytes(b);
            w.add_bytes(b.key, std::string(reinterpret_cast<const char*>(v.data), v.size), f++ % o.files);
          }
          TorchDistCheckpoint::CommonState common = dist_src->common_state();
          TorchSaveWriter cw;
          if (common.state) w.set_common_state(cw, cw.import(*common.file, common.state));
        }
        std::string dir = w.finish();
        write_tracker(out, iteration);
        for (const std::string& f : list_directory(dir)) written.push_back(join_path(dir, f));
        written.push_back(join_path(out, kTrackerFileName));
      } catch (...) {
        remove_tree(out);
        throw;
      }
      break;
    }
    case Format::kMegatronLegacy: {
      // one rank: a TP1/PP1 checkpoint whose "model" holds every tensor under its own name
      if (src.format() == Format::kMegatronLegacy)
        fail(Status::kUnsupported, "re-laying out legacy rank files needs the model's parallel rules (mbridge import/export)");
      try {
        MegatronLegacyWriter lw(out, 1, 1, 1);
        TorchSaveWriter w;
        pickle::Document& d = w.doc();
        pickle::Node* model = d.dict(true);
        for (const TensorInfo& t : src.tensors()) d.dict_set(model, d.string(t.name), w.tensor(next(t)));
        pickle::Node* root = d.dict();
        d.dict_set(root, d.string("checkpoint_version"), d.number(3.0));
        d.dict_set(root, d.string("iteration"), d.integer(1));
        d.dict_set(root, d.string("model"), model);
        lw.write_rank(0, 0, 0, w, root);
        std::string dir = lw.finish();
        written.push_back(join_path(join_path(dir, "mp_rank_00"), "model_optim_rng.pt"));
        written.push_back(join_path(out, kTrackerFileName));
      } catch (...) {
        remove_tree(out);
        throw;
      }
      break;
    }
    case Format::kAuto: fail(Status::kInvalidArgument, "choose an output format");
  }
  progress.finish();
  return written;
}

std::vector<CompareRow> compare_tensor_files(const TensorFiles& a, const TensorFiles& b) {
  std::vector<CompareRow> rows;
  for (const TensorInfo& t : a.tensors()) {
    CompareRow r;
    r.name = t.name;
    r.a = cat(dtype_name(t.dtype), t.shape.to_string());
    if (const TensorInfo* u = b.find(t.name)) {
      r.b = cat(dtype_name(u->dtype), u->shape.to_string());
      r.equal = u->dtype == t.dtype && u->shape == t.shape && bitwise_equal(a.read(t.name), b.read(t.name));
    }
    rows.push_back(std::move(r));
  }
  for (const TensorInfo& u : b.tensors())
    if (!a.find(u.name)) rows.push_back({u.name, "", cat(dtype_name(u.dtype), u.shape.to_string()), false});
  return rows;
}

}  // namespace mb
