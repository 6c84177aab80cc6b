// Megatron-LM "legacy" (--ckpt-format torch) checkpoints: one torch.save file per model-parallel rank,
//   iter_XXXXXXX/mp_rank_TT/model_optim_rng.pt              (no pipeline parallelism)
//   iter_XXXXXXX/mp_rank_TT_PPP/model_optim_rng.pt          (pipeline parallel)
//   iter_XXXXXXX/mp_rank_TT_PPP_EEE/model_optim_rng.pt      (expert parallel, when it is used)
// each a dict {"args": argparse.Namespace, "checkpoint_version": 3.0, "iteration": N, "model": state dict
// (or "model0".."modelK" with virtual pipeline stages), "optimizer", "rng_state", ...}.
// (megatron/training/checkpointing.py: get_checkpoint_name, generate_state_dict.)
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "io/torch_save.h"

namespace mb {

struct LegacyRank {
  int tp = 0;
  int pp = 0;
  int ep = -1;  // -1: the folder name has no expert rank
  std::string dir_name;  // the rank folder as found ("mp_rank_01_002")
  std::string file;      // the model_optim_rng.pt path
};

class MegatronLegacyCheckpoint {
 public:
  // `path`: a root with latest_checkpointed_iteration.txt, or an iteration folder.
  static std::shared_ptr<MegatronLegacyCheckpoint> open(const std::string& path, const TorchLoadOptions& options = {});
  static bool is_legacy_dir(const std::string& dir);

  const std::string& directory() const { return directory_; }
  std::optional<int64_t> iteration() const { return iteration_; }
  int tp_size() const { return tp_size_; }
  int pp_size() const { return pp_size_; }
  int ep_size() const { return ep_size_; }
  const std::vector<LegacyRank>& ranks() const { return ranks_; }
  const TorchSaveFile& rank_file(size_t i) const { return *files_[i]; }
  // The model state dicts of one rank: ("model", dict) or ("model0", dict), ("model1", dict), ...
  std::vector<std::pair<std::string, const pickle::Node*>> models(size_t rank) const;
  // Rank 0's args Namespace (nullptr when absent).
  const pickle::Node* args() const;

 private:
  std::string directory_;
  std::optional<int64_t> iteration_;
  int tp_size_ = 0, pp_size_ = 0, ep_size_ = 1;
  std::vector<LegacyRank> ranks_;
  std::vector<std::shared_ptr<TorchSaveFile>> files_;
};

// The folder name of a rank ("mp_rank_01", "mp_rank_01_002", "mp_rank_01_002_003").
std::string legacy_rank_dir(int tp, int pp, int ep, bool pipeline_parallel, bool expert_parallel);

// Writes the rank files of one iteration into a temporary folder, renamed into place by finish(),
// which then writes the tracker file last.
class MegatronLegacyWriter {
 public:
  MegatronLegacyWriter(std::string root, std::optional<int64_t> iteration, int tp_size, int pp_size, int ep_size = 1);
  ~MegatronLegacyWriter();
  void write_rank(int tp, int pp, int ep, TorchSaveWriter& writer, const pickle::Node* root);
  // For writers that stream a rank's file themselves: its path (folders created), then mark_written().
  std::string rank_file_path(int tp, int pp, int ep);
  void mark_written(int tp, int pp, int ep);
  std::string finish();  // returns the iteration folder

 private:
  std::string root_, final_dir_, temp_dir_;
  std::optional<int64_t> iteration_;
  int tp_size_, pp_size_, ep_size_;
  std::vector<bool> written_;
  bool finished_ = false;
};

// An argparse.Namespace object node with the given attributes (what Megatron stores as "args").
pickle::Node* make_namespace(pickle::Document& doc, const std::vector<std::pair<std::string, pickle::Node*>>& attrs);

}  // namespace mb
