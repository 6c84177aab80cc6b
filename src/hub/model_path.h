// Where every model argument goes first (mb_bridge_open, mb_import_ckpt, mb_tokenizer_load, the mbridge
// commands' --hf-model, --tokenizer and PATH): a path that exists is always a local path; anything else
// of the form org/name[@revision] is a Hugging Face Hub id, made local through the cache (hub/snapshot.h)
// with the settings of the environment (hub/hub_settings.h). Anything else is returned as it is, for the
// caller's own "not found" error.
#pragma once

#include <string>

#include "core/log.h"
#include "hub/hub_settings.h"
#include "hub/snapshot.h"

namespace mb::hub {

std::string local_model_path(const std::string& path_or_id, Need need, const ProgressFn& progress = {});
std::string local_model_path(const std::string& path_or_id, Need need, const HubSettings& settings,
                             const ProgressFn& progress);

// True when `text` would be taken as a Hub id (it does not exist locally and parses as one).
bool is_hub_reference(const std::string& text);

}  // namespace mb::hub
