// Megatron-Core's torch_dist checkpoints: the torch.distributed.checkpoint (DCP) file-system layout as
// Megatron writes it. An iteration folder holds
//   metadata.json       {"sharded_backend": "torch_dist", "sharded_backend_version": 1}
//   .metadata           pickled torch.distributed.checkpoint.metadata.Metadata: for every key its
//                       dtype, global shape and chunks (offsets, sizes); where each chunk lives
//   __<rank>_<n>.distcp items back to back: each tensor chunk a complete torch.save archive, each bytes
//                       item raw (Megatron's _extra_state and common_state objects are torch.save'd)
//   common.pt           only in older checkpoints: the non-tensor state
// The reader assembles any global tensor (or any region of one) from whatever chunking was written; the
// writer takes chunks in any layout and writes files Megatron-Core's dist_checkpointing.load accepts.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/byte_sink.h"
#include "core/mapped_file.h"
#include "core/tensor.h"
#include "io/json.h"
#include "io/torch_save.h"

namespace mb {

struct DistChunk {
  Dims offsets;
  Dims sizes;
  std::string file;  // relative to the iteration folder
  uint64_t offset = 0;
  uint64_t length = 0;
};

struct DistTensor {
  std::string key;
  DType dtype = DType::F32;
  Dims shape;
  std::vector<DistChunk> chunks;
};

struct DistBytes {
  std::string key;  // e.g. "decoder.layers.mlp.linear_fc1._extra_state/shard_0_4", "common_state/shard_0_1"
  std::string file;
  uint64_t offset = 0;
  uint64_t length = 0;
};

class TorchDistCheckpoint {
 public:
  // `path`: a root with latest_checkpointed_iteration.txt, or an iteration folder.
  static std::shared_ptr<TorchDistCheckpoint> open(const std::string& path, const TorchLoadOptions& options = {});
  // True when `dir` (an iteration folder) looks like torch_dist.
  static bool is_torch_dist_dir(const std::string& dir);

  const std::string& directory() const { return directory_; }
  std::optional<int64_t> iteration() const { return iteration_; }
  const std::vector<DistTensor>& tensors() const { return tensors_; }
  const DistTensor* find(std::string_view key) const;
  const std::vector<DistBytes>& byte_items() const { return bytes_; }
  const DistBytes* find_bytes(std::string_view key) const;

  Tensor read(const std::string& key) const;
  // The sub-tensor [start, start+size) of a global tensor, touching only the chunks that overlap it; a view of
  // the mapped file (read-only) when one chunk holds all of it.
  Tensor read_region(const std::string& key, const Dims& start, const Dims& size) const;
  // Starts the kernel reading the chunks that overlap a region (readahead), without waiting for them.
  void prefetch_region(const std::string& key, const Dims& start, const Dims& size) const;
  ByteView read_bytes(const DistBytes& item) const;
  // A bytes item that is itself a torch.save archive (Megatron's ShardedObjects).
  std::shared_ptr<TorchSaveFile> open_bytes_as_torch_save(const DistBytes& item) const;
  // The common state (the dict holding args, iteration, ...): common.pt when present (older Megatron),
  // else the "common_state/shard_0_1" item, which holds it wrapped in a one-element list.
  struct CommonState {
    std::shared_ptr<TorchSaveFile> file;  // null when the checkpoint has none
    const pickle::Node* state = nullptr;  // the dict itself
  };
  CommonState common_state() const;
  const json::Value& metadata_json() const { return metadata_json_; }
  void drop_pages() const;  // of every data file mapped so far

 private:
  TorchDistCheckpoint() = default;
  void parse_metadata(ByteView bytes, const std::string& source);
  std::shared_ptr<MappedFile> mapped(const std::string& relative) const;
  Tensor read_chunk(const DistTensor& t, const DistChunk& c) const;

  std::string directory_;
  std::optional<int64_t> iteration_;
  TorchLoadOptions options_;
  json::Value metadata_json_;
  std::vector<DistTensor> tensors_;
  std::vector<DistBytes> bytes_;
  std::unordered_map<std::string, size_t> tensor_index_;
  std::unordered_map<std::string, size_t> bytes_index_;
  mutable std::mutex files_mutex_;
  mutable std::unordered_map<std::string, std::shared_ptr<MappedFile>> files_;
};

struct DistWriteOptions {
  bool common_pt = false;  // write the common state as common.pt (older Megatron) instead of an item
  bool fsync = true;
  int metadata_pickle_protocol = 4;  // what torch's pickle.dump writes
};

// Writes one iteration folder. Items stream straight into their .distcp files; .metadata and then
// metadata.json are written last, and the folder appears under its final name only at finish().
class TorchDistWriter {
 public:
  TorchDistWriter(std::string iteration_dir, int num_files, DistWriteOptions options = {});
  ~TorchDistWriter();

  // A chunk of global tensor `key` (global_shape), at `offsets`, stored in file `file_index`.
  void add_chunk(const std::string& key, const Dims& global_shape, const Dims& offsets, const Tensor& chunk,
                 int file_index);
  // A whole tensor, split into `parts` nearly equal chunks along `dim`, spread over the files.
  void add_tensor(const std::string& key, const Tensor& tensor, int dim = 0, int parts = 1);
  void add_bytes(const std::string& key, const std::string& bytes, int file_index);
  // The common state dict (args, checkpoint_version, iteration...), a node of `writer`'s document:
  // stored as the item "common_state/shard_0_1" (wrapped in a list, as Megatron-Core does) or as
  // common.pt (the dict itself, as older Megatron did), per DistWriteOptions::common_pt.
  void set_common_state(TorchSaveWriter& writer, pickle::Node* state);
  // Checks that every tensor's chunks tile it exactly, writes .metadata and metadata.json, renames
  // the folder into place. Returns the final folder.
  std::string finish();

 private:
  struct Item {
    std::string key;
    bool is_bytes;
    Dims offsets;
    int file;
    uint64_t offset;
    uint64_t length;
    Dims sizes;
  };
  struct TensorMeta {
    DType dtype;
    Dims shape;
    std::vector<size_t> items;
  };
  std::string final_dir_;
  std::string temp_dir_;
  DistWriteOptions options_;
  std::vector<std::unique_ptr<OutputFile>> files_;
  std::vector<std::string> file_names_;
  std::vector<Item> items_;
  std::vector<std::string> tensor_order_;
  std::unordered_map<std::string, TensorMeta> tensors_;
  std::vector<std::string> bytes_order_;
  std::string common_state_;
  bool has_common_state_ = false;
  bool finished_ = false;
};

// Checks that `chunks` (offsets, sizes) lie inside `shape` and cover it exactly once; throws a format
// error naming `what` otherwise.
void check_chunks_tile(const Dims& shape, const std::vector<std::pair<Dims, Dims>>& chunks, const std::string& what);

}  // namespace mb
