// The one-call conversions, mirroring Megatron-Bridge's AutoBridge.import_ckpt / export_ckpt and its
// examples/conversion scripts: Hugging Face -> Megatron, Megatron -> Hugging Face, Megatron -> Megatron in
// another layout, and a round trip that proves nothing changed. Each streams one parameter at a time
// from a ParamSource into a writer.
#pragma once

#include <string>
#include <vector>

#include "bridge/hf_writer.h"
#include "bridge/megatron_writer.h"
#include "bridge/param_source.h"
#include "core/log.h"

namespace mb::bridge {

struct ImportOptions {
  MegatronTarget target;
  HfSourceOptions source;
  ProgressFn progress;
};
// Returns the iteration folder written.
std::string import_checkpoint(const std::string& hf_dir, const std::string& megatron_root, const ImportOptions& o);

struct ExportOptions {
  MegatronSourceOptions source;
  HfTarget target;
  ProgressFn progress;
};
// Returns the files written into hf_dir.
std::vector<std::string> export_checkpoint(const std::string& megatron_path, const std::string& hf_dir,
                                           const ExportOptions& o);

struct ReshardOptions {
  MegatronSourceOptions source;
  MegatronTarget target;
  ProgressFn progress;
};
std::string reshard_checkpoint(const std::string& megatron_path, const std::string& megatron_root,
                               const ReshardOptions& o);

struct RoundtripRow {
  std::string name;
  std::string shape;
  std::string dtype;
  bool matches = false;
};
struct RoundtripResult {
  std::vector<RoundtripRow> rows;
  std::string megatron_dir;  // where the intermediate checkpoints were kept (empty when removed)
  std::string hf_dir;
  bool all_match() const;
};
// Hugging Face -> Megatron (target) -> Hugging Face, then every tensor compared bit for bit with the
// original. With an empty `work_dir` the intermediate files go to a temporary folder and are removed.
RoundtripResult roundtrip(const std::string& hf_dir, const std::string& work_dir, const MegatronTarget& target,
                          const ProgressFn& progress);

// Two models compared parameter by parameter (any two of Hugging Face folders and Megatron checkpoints):
// equal when the bits agree, or when only the dtype differs and the values are the same.
struct VerifyRow {
  std::string param;  // "layer 3 qkv"
  std::string a, b;   // "BF16[64, 32]"
  bool equal = false;
  std::string note;   // why not, or "values equal, dtypes differ"
};
std::vector<VerifyRow> verify_models(const ParamSource& a, const ParamSource& b);

// Streams every parameter of `src` into `sink`, as the target (with `target_vocab_rows` rows of
// vocabulary) expects them; reports progress in bytes. With `blocks_sink`, parameters go there as the
// source's row blocks instead (ParamSource::read_row_blocks), except the vocabulary ones, which may be padded.
void stream_params(const ParamSource& src, int64_t target_vocab_rows,
                   const std::function<void(const ParamInfo&, const Tensor&)>& sink, const ProgressFn& progress,
                   const std::string& stage,
                   const std::function<void(const ParamInfo&, const std::vector<Tensor>&)>& blocks_sink = {});

}  // namespace mb::bridge
