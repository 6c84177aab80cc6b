#include "hub/model_path.h"

#include "core/error.h"
#include "core/paths.h"

namespace mb::hub {

bool is_hub_reference(const std::string& text) { return !path_exists(text) && parse_hub_id(text).has_value(); }

std::string local_model_path(const std::string& path_or_id, Need need, const HubSettings& settings,
                             const ProgressFn& progress) {
  if (path_exists(path_or_id)) return path_or_id;
  auto id = parse_hub_id(path_or_id);
  if (!id) return path_or_id;
  try {
    return fetch_snapshot(*id, need, settings, progress).path;
  } catch (const Error& e) {
    if (e.status() == Status::kCancelled) throw;  // a typo'd local path should not read like a Hub problem only
    throw Error(e.status(), cat("'", path_or_id, "' is not a local file or folder, so it was taken as a Hugging Face "
                                "Hub id: ", e.message()));
  }
}

std::string local_model_path(const std::string& path_or_id, Need need, const ProgressFn& progress) {
  if (path_exists(path_or_id) || !parse_hub_id(path_or_id)) return path_or_id;
  return local_model_path(path_or_id, need, HubSettings::from_environment(), progress);
}

}  // namespace mb::hub
