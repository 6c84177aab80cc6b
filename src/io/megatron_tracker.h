// Megatron-LM's checkpoint folder layout, shared by both of its formats:
//   <root>/latest_checkpointed_iteration.txt   "<iteration>" or "release"
//   <root>/iter_0000010/ or <root>/release/    the checkpoint itself
// (megatron/training/checkpointing.py: get_checkpoint_tracker_filename, get_checkpoint_name).
#pragma once

#include <optional>
#include <string>

namespace mb {

constexpr const char* kTrackerFileName = "latest_checkpointed_iteration.txt";

struct IterationDir {
  std::string root;                 // the folder holding the tracker file (empty when opened directly)
  std::string directory;            // iter_XXXXXXX or release
  std::optional<int64_t> iteration; // none for release
};

// `path` is a root with a tracker file, or an iteration folder itself.
IterationDir resolve_iteration_dir(const std::string& path);
std::string iteration_dir_name(std::optional<int64_t> iteration);  // "iter_0000010" / "release"
// Writes the tracker file atomically (the last step of a checkpoint save).
void write_tracker(const std::string& root, std::optional<int64_t> iteration);

}  // namespace mb
