// Model arguments of the mbridge commands (--hf-model, --tokenizer, PATH, --megatron-path): a path that
// exists locally stays a path; org/name[@revision] is a Hugging Face Hub id, fetched into the Hugging Face
// cache (a progress bar on stderr unless --no-progress) and replaced by its snapshot folder.
#pragma once

#include <optional>
#include <string>

#include "cli/args.h"
#include "hub/snapshot.h"

namespace mb::cli {

std::string model_arg(const Args& args, const std::string& value, hub::Need need);
// The value of --<option> made local; nullopt when the option is absent.
std::optional<std::string> model_option(const Args& args, const std::string& option, hub::Need need);

// A checkpoint PATH (tensors, info, verify, transcode, compare): Hub ids are resolved for the formats a Hub
// model has (auto, safetensors) only.
std::string checkpoint_arg(const Args& args, const std::string& value, Format format);

// One line for the --help texts.
extern const char* kHubIdHelp;

}  // namespace mb::cli
