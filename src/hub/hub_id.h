// Hugging Face Hub model ids: "org/name" with an optional "@revision" (a branch, a tag or a commit sha), as
// every seed command takes them (`--hf-model meta-llama/Llama-3.2-1B`). The id and the revision end up in
// URLs and in cache paths, so both are checked here against what the Hub allows: nothing else gets through.
#pragma once

#include <optional>
#include <string>

namespace mb::hub {

struct HubId {
  std::string repo;                // "org/name"
  std::string revision = "main";  // branch, tag or 40-digit commit sha
  bool explicit_revision = false;  // written as "@revision"

  std::string text() const { return explicit_revision ? repo + "@" + revision : repo; }
};

// "org/name" or "org/name@revision", else nullopt (with `why` set, when given, to the reason).
std::optional<HubId> parse_hub_id(const std::string& text, std::string* why = nullptr);

// The Hub's rules: a name part is 1-96 characters of letters, digits, '-', '_', '.', starts and ends with
// a letter, digit or '_', and holds neither "--" nor "..". A revision is 1-255 characters of letters, digits,
// '-', '_', '.', '/' whose '/'-separated parts are not empty, "." or ".." (refs/pr/1 is one).
bool valid_repo_name_part(const std::string& part);
bool valid_revision(const std::string& revision);
bool is_commit_sha(const std::string& revision);  // 40 lower-case hex digits

// The folder name of a model repository in the cache: "models--org--name".
std::string repo_folder_name(const std::string& repo);

}  // namespace mb::hub
