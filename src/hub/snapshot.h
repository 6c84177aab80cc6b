// A model from the Hub as a local folder: the snapshot folder of the cache (snapshots/<commit>/) holding
// the files a caller needs, downloaded when missing.
//
//   kModel      config.json, the safetensors weights (model.safetensors, or the index and every shard it
//               names; other weight files such as original/ or *.bin are never fetched) and the assets
//   kConfig     config.json and the assets (describing a Megatron checkpoint, checking support)
//   kTokenizer  tokenizer.json and the assets
// Assets are the files conversions carry along, fetched when the repository has them: generation_config.json,
// tokenizer.json, tokenizer_config.json, special_tokens_map.json, tokenizer.model, vocab.json, merges.txt,
// added_tokens.json, chat_template.jinja, chat_template.json, preprocessor_config.json, processor_config.json.
//
// Cache first: a commit sha whose files are all in the cache is used without any request; a branch or tag
// costs one listing request (has it moved?) and then only what is missing is downloaded. When the Hub
// cannot be asked (offline, unreachable, refusing) a complete cached snapshot is used, with a warning.
// HF_HUB_OFFLINE=1 never opens a connection.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/log.h"
#include "hub/hub_id.h"
#include "hub/hub_settings.h"

namespace mb::hub {

enum class Need { kModel, kConfig, kTokenizer };

struct Snapshot {
  std::string path;    // <cache>/models--org--name/snapshots/<commit>
  std::string commit;
  std::vector<std::string> files;   // the needed files, all present in `path`
  int downloaded_files = 0;
  uint64_t downloaded_bytes = 0;
  bool used_network = false;
};

Snapshot fetch_snapshot(const HubId& id, Need need, const HubSettings& settings, const ProgressFn& progress = {});

// Given files of the repository at id.revision, as huggingface_hub's hf_hub_download fetches them one by one
// (a HEAD each, .no_exist/ markers for files the Hub says are absent). Returns the snapshot; its `files` are
// the paths inside it, in the order asked.
Snapshot fetch_files(const HubId& id, const std::vector<std::string>& files, const HubSettings& settings,
                     const ProgressFn& progress = {});

}  // namespace mb::hub
