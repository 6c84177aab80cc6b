// Writes full Megatron parameters as a Megatron checkpoint in a chosen layout: torch_dist (each parameter
// written as the chunks Megatron-Core itself writes at that tensor/pipeline/expert parallelism) or legacy
// rank files (each rank's shards, stage-local layer numbers, model0..modelN for virtual stages). Every
// parameter goes straight to disk when handed over. The checkpoint gets Megatron's args, the extra-state
// entries Megatron-Core expects, mbridge's metadata and the Hugging Face assets (mbridge_hf/), and becomes
// visible (latest_checkpointed_iteration.txt) only when finish() succeeds; a failure removes it.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bridge/checkpoint_meta.h"
#include "bridge/parallel_layout.h"
#include "bridge/params.h"
#include "core/tensor.h"
#include "io/tensor_files.h"

namespace mb::bridge {

struct MegatronTarget {
  Format format = Format::kTorchDist;  // or Format::kMegatronLegacy
  ParallelLayout layout;
  int64_t iteration = 0;
  std::optional<DType> dtype;  // cast every parameter; default: keep the source's dtypes
  bool fsync = true;
};

class MegatronWriter {
 public:
  // `root` must not exist (or be an empty folder). `assets` are files to copy into root/mbridge_hf/.
  MegatronWriter(std::string root, const ModelConfig& config, int64_t vocab_rows, const MegatronTarget& target,
                 CheckpointMeta meta, std::vector<std::string> assets);
  ~MegatronWriter();
  void write(const ParamInfo& info, const Tensor& full);
  // The parameter as row blocks (ParamSource::read_row_blocks): a gated parameter's gate and up go into a
  // torch_dist checkpoint straight from the source's files; anything else is concatenated and written.
  void write_blocks(const ParamInfo& info, const std::vector<Tensor>& blocks);
  std::string finish();  // returns the iteration folder

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mb::bridge
