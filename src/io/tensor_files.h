// Any supported checkpoint format seen as a flat set of named tensors, and written back as one: the
// format-level layer under the C ABI's mb_checkpoint and the mbridge command's tensors/info/transcode/
// compare. Names are the format's own: safetensors names, dotted paths inside a torch.save object,
// torch_dist keys (global tensors), "<rank folder>/<state-dict key>" for legacy Megatron ranks.
// (Turning Megatron names into Hugging Face ones is the bridge layer's job, not this one's.)
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/log.h"
#include "core/tensor.h"
#include "io/json.h"
#include "io/torch_save.h"

namespace mb {

enum class Format : int { kAuto = 0, kSafetensors = 1, kTorchSave = 2, kTorchDist = 3, kMegatronLegacy = 4 };

const char* format_name(Format f);  // "safetensors", "torch", "torch_dist", "megatron_legacy"
std::optional<Format> format_from_name(const std::string& name);
// What `path` holds, judged from its files (never from its name alone); throws when unrecognised.
Format detect_format(const std::string& path);

struct TensorInfo {
  std::string name;
  DType dtype;
  Dims shape;
};

class TensorFiles {
 public:
  virtual ~TensorFiles() = default;
  virtual Format format() const = 0;
  const std::string& path() const { return path_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(const std::string& name) const;
  // A tensor's data; zero-copy where the format allows it.
  virtual Tensor read(const std::string& name) const = 0;
  // Format-specific facts: files, iteration, parallel layout, metadata, args...
  virtual json::Value describe() const = 0;
  // Keeps `handle` alive as long as these files: the mount of the bundle they are read from.
  void keep_alive(std::shared_ptr<const void> handle) { keep_alive_.push_back(std::move(handle)); }

 protected:
  // Adapters fill tensors_ and then call this once: names must be unique.
  void index_tensors();
  std::string path_;
  std::vector<TensorInfo> tensors_;

 private:
  std::unordered_map<std::string, size_t> index_;
  std::vector<std::shared_ptr<const void>> keep_alive_;
};

// `path` may also be a bundle (.mbz) of any of these, read in place.
std::unique_ptr<TensorFiles> open_tensor_files(const std::string& path, Format format = Format::kAuto,
                                               const TorchLoadOptions& options = {});

struct TranscodeOptions {
  Format format = Format::kSafetensors;
  uint64_t max_shard_bytes = 5'000'000'000ull;  // safetensors
  int files = 1;                                // torch_dist: data files
  int chunks = 1;                               // torch_dist: chunks per tensor, along its first dimension
  std::optional<DType> dtype;                   // cast floating-point tensors
  ProgressFn progress;
};

// Writes every tensor of `src` to `out` in another (or the same) format, streaming one tensor at a
// time; returns the files written. `out` must not exist yet.
std::vector<std::string> transcode(const TensorFiles& src, const std::string& out, const TranscodeOptions& options);

// Bit-for-bit comparison of two tensor sets by name.
struct CompareRow {
  std::string name;
  std::string a;  // "BF16[128, 32]" or "" when absent
  std::string b;
  bool equal = false;
};
std::vector<CompareRow> compare_tensor_files(const TensorFiles& a, const TensorFiles& b);

}  // namespace mb
