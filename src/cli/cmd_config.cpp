// mbridge config PATH [--hf-model DIR] [--family NAME] [--json]: what mbridge makes of a model -- family,
// Megatron TransformerConfig, Hugging Face config, layout.
#include <cstdio>

#include "bridge/bridge_info.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/model_arg.h"

namespace mb::cli {

int run_config(int argc, char** argv) {
  Args args(argc, argv, 2, {"hf-model", "family"}, {"json", "no-progress", "help"});
  if (args.has("help")) {
    std::fputs("usage: mbridge config PATH [--hf-model DIR] [--family NAME] [--no-progress] [--json]\n", stdout);
    std::fputs(kHubIdHelp, stdout);
    return 0;
  }
  bridge::MegatronSourceOptions o;
  o.hf_model = model_option(args, "hf-model", hub::Need::kConfig).value_or("");
  o.family = args.get("family").value_or("");
  auto source = bridge::open_param_source(model_arg(args, args.positional(0, "PATH"), hub::Need::kModel), o);
  std::printf("%s\n", json::dump(bridge::bridge_info(*source), args.has("json") ? -1 : 2).c_str());
  return 0;
}

}  // namespace mb::cli
