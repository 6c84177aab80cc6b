#include "io/safetensors_sharded.h"

#include <algorithm>
#include <cstdio>

#include "core/byte_sink.h"
#include "core/error.h"
#include "core/log.h"
#include "core/paths.h"

namespace mb {

// ---- reading ------------------------------------------------------------------------------------------

std::vector<std::string> safetensors_index_shards(const std::string& index_path) {
  json::Value index = json::parse_file(index_path);
  const json::Value* map = index.find("weight_map");
  if (!index.is_object() || !map || !map->is_object()) fail_format(index_path, "no \"weight_map\" object");
  std::vector<std::string> shards;
  for (const auto& [name, file] : map->members()) {
    if (!file.is_string()) fail_format(index_path, "weight_map entry '", name, "' is not a file name");
    check_relative_name(file.as_string(), index_path, true);
    if (std::find(shards.begin(), shards.end(), file.as_string()) == shards.end()) shards.push_back(file.as_string());
  }
  return shards;
}

std::shared_ptr<SafetensorsFolder> SafetensorsFolder::open(const std::string& path) {
  auto folder = std::make_shared<SafetensorsFolder>();
  std::string index_path;
  if (is_directory(path)) {
    folder->directory_ = path;
    if (is_regular_file(join_path(path, kSafetensorsIndexName))) {
      index_path = join_path(path, kSafetensorsIndexName);
    } else if (is_regular_file(join_path(path, kSafetensorsSingleName))) {
      folder->files_.push_back(SafetensorsFile::open(join_path(path, kSafetensorsSingleName)));
    } else {
      std::vector<std::string> found;
      for (const std::string& name : list_directory(path))
        if (name.size() > 12 && name.compare(name.size() - 12, 12, ".safetensors") == 0) found.push_back(name);
      if (found.size() != 1)
        fail(Status::kNotFound, path, ": no ", kSafetensorsIndexName, " or ", kSafetensorsSingleName,
             found.empty() ? " and no .safetensors file" : " and several .safetensors files without an index");
      folder->files_.push_back(SafetensorsFile::open(join_path(path, found[0])));
    }
  } else if (path.size() > 5 && path.compare(path.size() - 5, 5, ".json") == 0) {
    folder->directory_ = parent_path(path);
    index_path = path;
  } else {
    folder->directory_ = parent_path(path);
    folder->files_.push_back(SafetensorsFile::open(path));
  }

  if (!index_path.empty()) {
    folder->index_ = json::parse_file(index_path);
    const json::Value* map = folder->index_.find("weight_map");
    if (!folder->index_.is_object() || !map || !map->is_object())
      fail_format(index_path, "no \"weight_map\" object");
    std::unordered_map<std::string, size_t> file_index;
    for (const auto& [name, file] : map->members()) {
      if (!file.is_string()) fail_format(index_path, "weight_map entry '", name, "' is not a file name");
      const std::string& fname = file.as_string();
      check_relative_name(fname, index_path, true);
      auto it = file_index.find(fname);
      if (it == file_index.end()) {
        it = file_index.emplace(fname, folder->files_.size()).first;
        folder->files_.push_back(SafetensorsFile::open(join_path(folder->directory_, fname)));
      }
      const SafetensorsFile* shard = folder->files_[it->second].get();
      const SafetensorsEntry* entry = shard->find(name);
      if (!entry) fail_format(index_path, "lists tensor '", name, "' in ", fname, ", which does not hold it");
      if (!folder->refs_.emplace(name, Ref{shard, entry}).second)
        fail_format(index_path, "lists tensor '", name, "' twice");
      folder->names_.push_back(name);
    }
    uint64_t total = 0;
    for (const auto& f : folder->files_)
      for (const auto& e : f->entries()) {
        total += e.end - e.begin;
        if (!folder->refs_.count(e.name))
          log_warning(cat(f->path(), ": tensor '", e.name, "' is not listed in ", index_path, "; ignored"));
      }
    const json::Value* meta = folder->index_.find("metadata");
    const json::Value* declared = meta ? meta->find("total_size") : nullptr;
    if (declared && declared->is_number() && static_cast<uint64_t>(declared->as_number()) != total)
      log_warning(cat(index_path, ": metadata.total_size is ", declared->as_number(), " but the shards hold ", total,
                      " bytes of tensors"));
  } else {
    for (const auto& e : folder->files_[0]->entries()) {
      folder->refs_.emplace(e.name, Ref{folder->files_[0].get(), &e});
      folder->names_.push_back(e.name);
    }
  }
  return folder;
}

SafetensorsFolder::Ref SafetensorsFolder::find(std::string_view name) const {
  auto it = refs_.find(std::string(name));
  return it == refs_.end() ? Ref{} : it->second;
}

Tensor SafetensorsFolder::tensor(std::string_view name) const {
  Ref r = find(name);
  if (!r.file) fail(Status::kNotFound, directory_, ": no tensor named '", std::string(name), "'");
  return r.file->tensor(*r.entry);
}

// ---- writing -------------------------------------------------------------------------------------------

SafetensorsFolderWriter::SafetensorsFolderWriter(std::string directory, std::vector<SafetensorsSpec> specs,
                                                 ShardOptions options)
    : directory_(std::move(directory)) {
  make_directories(directory_);
  // Greedy split in the given order, like transformers' split_torch_state_dict_into_shards.
  std::vector<std::vector<SafetensorsSpec>> groups(1);
  uint64_t in_group = 0, total = 0;
  int64_t parameters = 0;
  for (SafetensorsSpec& s : specs) {
    uint64_t nbytes;
    if (!checked_nbytes(s.shape, dtype_size(s.dtype), &nbytes))
      fail(Status::kInvalidArgument, "tensor '", s.name, "': shape ", s.shape.to_string(), " overflows");
    if (in_group > 0 && in_group + nbytes > options.max_shard_bytes) {
      groups.emplace_back();
      in_group = 0;
    }
    in_group += nbytes;
    total += nbytes;
    int64_t n;
    checked_numel(s.shape, &n);
    parameters += n;
    groups.back().push_back(std::move(s));
  }
  const size_t count = groups.size();
  for (size_t i = 0; i < count; ++i) {
    std::string name = kSafetensorsSingleName;
    if (count > 1) {
      char buf[64];
      std::snprintf(buf, sizeof(buf), "model-%05zu-of-%05zu.safetensors", i + 1, count);
      name = buf;
    }
    for (const SafetensorsSpec& s : groups[i]) shard_of_[s.name] = i;
    shard_names_.push_back(name);
    shards_.push_back(std::make_unique<SafetensorsWriter>(join_path(directory_, name), groups[i], options.metadata));
  }
  if (count > 1) {
    std::vector<std::pair<std::string, std::string>> map;
    for (const auto& [tensor, shard] : shard_of_) map.emplace_back(tensor, shard_names_[shard]);
    std::sort(map.begin(), map.end());
    json::Value meta = json::Value::object();
    meta.set("total_parameters", parameters);
    meta.set("total_size", static_cast<int64_t>(total));
    json::Value weight_map = json::Value::object();
    for (auto& [tensor, file] : map) weight_map.members().emplace_back(tensor, json::Value(file));
    index_ = json::Value::object();
    index_.set("metadata", std::move(meta));
    index_.set("weight_map", std::move(weight_map));
  }
}

void SafetensorsFolderWriter::write(const std::string& name, const Tensor& tensor) {
  auto it = shard_of_.find(name);
  if (it == shard_of_.end()) fail(Status::kInvalidArgument, directory_, ": tensor '", name, "' was not announced");
  shards_[it->second]->write(name, tensor);
}

std::vector<std::string> SafetensorsFolderWriter::finish(bool fsync_data) {
  for (auto& s : shards_) s->finish(fsync_data);
  std::vector<std::string> files = shard_names_;
  if (shards_.size() > 1) {
    write_file_atomic(join_path(directory_, kSafetensorsIndexName), json::dump(index_, 2) + "\n");
    files.push_back(kSafetensorsIndexName);
  }
  return files;
}

}  // namespace mb
