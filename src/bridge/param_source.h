// Where full Megatron parameters come from: a Hugging Face folder (tensors fused by the family's rules)
// or a Megatron checkpoint (torch_dist global tensors, or legacy rank files whose tensor-parallel shards
// are merged and whose pipeline stages are renumbered). Each read() returns one parameter; nothing else
// is held in memory, so converting a model needs about as much memory as its largest parameters.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bridge/checkpoint_meta.h"
#include "bridge/family.h"
#include "bridge/parallel_layout.h"
#include "core/tensor.h"
#include "io/tensor_files.h"

namespace mb::bridge {

class ParamSource {
 public:
  virtual ~ParamSource() = default;
  const ModelConfig& config() const { return config_; }
  const Family& family() const { return *family_; }
  int64_t vocab_rows() const { return vocab_rows_; }
  const std::string& path() const { return path_; }
  virtual const char* kind() const = 0;  // "hf", "torch_dist", "megatron_legacy"
  // The parameters, in streaming order.
  const std::vector<ParamInfo>& params() const { return params_; }
  virtual DType dtype(const ParamInfo& p) const = 0;
  virtual Tensor read(const ParamInfo& p) const = 0;
  // read(p) as blocks of rows, unconcatenated where the source holds them apart (Hugging Face gate and up):
  // lets a writer store them straight from the source's files. By default the one block read(p).
  virtual std::vector<Tensor> read_row_blocks(const ParamInfo& p) const { return {read(p)}; }
  // Indices [first, first + count) of dimension `dim` of p: read(p).narrow(dim, first, count), but a source that
  // stores p in pieces reads only the pieces that hold them (a torch_dist checkpoint: the chunks overlapping
  // the slice; legacy rank files: the one rank's shard, when the slice lies inside it). A tensor-parallel rank
  // reads its part of each parameter so (engine/rank_plan.h).
  virtual Tensor read_slice(const ParamInfo& p, int dim, int64_t first, int64_t count) const;
  // Before read(p): starts the kernel reading p's bytes, so the disk works while the parameter
  // before it is converted and written.
  virtual void prefetch(const ParamInfo&) const {}
  // After every parameter was read: checks nothing in the source was left unused.
  virtual void finish() const {}
  // Between parameters: lets go of the file pages read so far (memory stays bounded on huge models).
  virtual void drop_pages() const {}
  // Files to carry along to a Hugging Face folder (tokenizer files, generation_config.json), as paths,
  // and the config.json text when the source has one.
  virtual std::vector<std::string> assets() const { return {}; }
  virtual std::string hf_config_text() const { return ""; }
  // The layout a Megatron source was written with (tp/pp/vpp/ep, spec); TP1 for Hugging Face.
  virtual ParallelLayout layout() const { return {}; }
  // Keeps `handle` alive as long as the source: the mount of the bundle it reads from.
  void keep_alive(std::shared_ptr<const void> handle) { keep_alive_.push_back(std::move(handle)); }

 protected:
  void set_config(ModelConfig c, int64_t vocab_rows);
  // read_slice's arguments name indices of p: kInvalidArgument otherwise (every override checks them first).
  void check_slice(const ParamInfo& p, int dim, int64_t first, int64_t count) const;
  std::string path_;
  ModelConfig config_;
  const Family* family_ = nullptr;
  int64_t vocab_rows_ = 0;
  std::vector<ParamInfo> params_;

 private:
  std::vector<std::shared_ptr<const void>> keep_alive_;
};

struct HfSourceOptions {
  bool allow_unused = false;  // tensors the family does not know: an error unless this is set
};
std::unique_ptr<ParamSource> open_hf_source(const std::string& dir, const HfSourceOptions& options = {});

struct MegatronSourceOptions {
  std::string hf_model;  // a config.json (or its folder) describing the model; overrides what the checkpoint records
  std::string family;    // the family to export as when the checkpoint records no Hugging Face config
};
std::unique_ptr<ParamSource> open_megatron_source(const std::string& path, const MegatronSourceOptions& options = {});

// Each opener also takes an mbridge bundle (.mbz) of such a folder or checkpoint, read in place without
// unpacking (io/bundle_reader.h).
// Either kind, judged from the files (config.json + safetensors: Hugging Face; else Megatron).
std::unique_ptr<ParamSource> open_param_source(const std::string& path, const MegatronSourceOptions& options = {});
bool is_hf_folder(const std::string& path);
bool is_megatron_checkpoint(const std::string& path);  // torch_dist or legacy: a root or an iteration folder
// The files of a Hugging Face folder that travel with the weights: tokenizer files, generation_config.json...
std::vector<std::string> hf_asset_files(const std::string& dir);

}  // namespace mb::bridge
