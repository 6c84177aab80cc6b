// A Hugging Face weight folder: one model.safetensors, or shards model-0000k-of-0000N.safetensors listed
// in model.safetensors.index.json ({"metadata": {"total_size": bytes, ...}, "weight_map": {name: file}}).
// The reader checks the index against the shards (every listed tensor present, shard names that stay
// inside the folder); the writer splits tensors into shards by size, as transformers' save_pretrained
// does, and writes the index last.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "io/json.h"
#include "io/safetensors.h"

namespace mb {

constexpr const char* kSafetensorsIndexName = "model.safetensors.index.json";
constexpr const char* kSafetensorsSingleName = "model.safetensors";

// The shard files an index names (weight_map values), each once, in first-use order; names that could
// leave the index's folder are errors. Reads the index only, not the shards.
std::vector<std::string> safetensors_index_shards(const std::string& index_path);

class SafetensorsFolder {
 public:
  // `path`: a .safetensors file, an index file, or a folder holding either.
  static std::shared_ptr<SafetensorsFolder> open(const std::string& path);

  struct Ref {
    const SafetensorsFile* file = nullptr;
    const SafetensorsEntry* entry = nullptr;
  };
  const std::vector<std::string>& names() const { return names_; }  // index order, else header order
  Ref find(std::string_view name) const;                              // file null when absent
  Tensor tensor(std::string_view name) const;
  const std::vector<std::shared_ptr<SafetensorsFile>>& files() const { return files_; }
  const std::string& directory() const { return directory_; }
  const json::Value& index() const { return index_; }  // null for a single file

 private:
  std::string directory_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::vector<std::string> names_;
  std::unordered_map<std::string, Ref> refs_;
  json::Value index_;
};

struct ShardOptions {
  uint64_t max_shard_bytes = 5'000'000'000ull;  // transformers 4's default ("5GB"); transformers 5 uses 50GB
  StringPairs metadata = {{"format", "pt"}};
};

// Streams tensors into shards of at most max_shard_bytes (a larger tensor gets a shard to itself).
// Tensors may arrive in any order; nothing is visible in `directory` until finish().
class SafetensorsFolderWriter {
 public:
  SafetensorsFolderWriter(std::string directory, std::vector<SafetensorsSpec> specs, ShardOptions options = {});
  void write(const std::string& name, const Tensor& tensor);
  // Finishes every shard, then writes the index (when there is more than one shard). Returns the files.
  std::vector<std::string> finish(bool fsync_data = true);

 private:
  std::string directory_;
  std::vector<std::unique_ptr<SafetensorsWriter>> shards_;
  std::vector<std::string> shard_names_;
  std::unordered_map<std::string, size_t> shard_of_;
  json::Value index_;
};

}  // namespace mb
