// mbridge config PATH [--hf-model DIR] [--family NAME] [--json]: what mbridge makes of a model -- family,
// Megatron TransformerConfig, Hugging Face config, layout.
#include <cstdio>

#include "bridge/bridge_info.h"
#include "cli/args.h"
#include "cli/commands.h"

namespace mb::cli {

int run_config(int argc, char** argv) {
  Args args(argc, argv, 2, {"hf-model", "family"}, {"json", "help"});
  if (args.has("help")) {
    std::fputs("usage: mbridge config PATH [--hf-model DIR] [--family NAME] [--json]\n", stdout);
    return 0;
  }
  bridge::MegatronSourceOptions o;
  o.hf_model = args.get("hf-model").value_or("");
  o.family = args.get("family").value_or("");
  auto source = bridge::open_param_source(args.positional(0, "PATH"), o);
  std::printf("%s\n", json::dump(bridge::bridge_info(*source), args.has("json") ? -1 : 2).c_str());
  return 0;
}

}  // namespace mb::cli
