#include "cli/model_arg.h"

#include "cli/progress_bar.h"
#include "hub/model_path.h"

namespace mb::cli {

const char* kHubIdHelp =
    "A model (DIR) may also be a Hugging Face Hub id, org/name[@revision]: it is found in or downloaded to the\n"
    "Hugging Face cache (HF_HOME, HF_HUB_CACHE; HF_TOKEN for gated models; HF_HUB_OFFLINE=1: cache only).\n";

std::string model_arg(const Args& args, const std::string& value, hub::Need need) {
  return hub::local_model_path(value, need, progress_bar(!args.has("no-progress")));
}

std::string checkpoint_arg(const Args& args, const std::string& value, Format format) {
  if (format != Format::kAuto && format != Format::kSafetensors) return value;
  return model_arg(args, value, hub::Need::kModel);
}

std::optional<std::string> model_option(const Args& args, const std::string& option, hub::Need need) {
  auto value = args.get(option);
  if (!value) return std::nullopt;
  return model_arg(args, *value, need);
}

}  // namespace mb::cli
