// mbridge reshard --megatron-path DIR --output DIR [layout options]: Megatron -> Megatron in another layout.
#include <cstdio>

#include "bridge/convert.h"
#include "cli/bridge_options.h"
#include "cli/commands.h"
#include "cli/model_arg.h"
#include "cli/progress_bar.h"
#include "core/error.h"
#include "io/json.h"

namespace mb::cli {

int run_reshard(int argc, char** argv) {
  std::set<std::string> options = kTargetOptions;
  options.insert({"megatron-path", "output", "hf-model", "family"});
  Args args(argc, argv, 2, options, {"no-progress", "json", "help"});
  if (args.has("help")) {
    std::printf("usage: mbridge reshard --megatron-path DIR --output DIR [options]\n%s"
                "  --hf-model DIR --family NAME    as for export, when the checkpoint stores no config.json\n"
                "  --no-progress --json\n%s",
                kTargetHelp, kHubIdHelp);
    return 0;
  }
  auto in = args.get("megatron-path");
  auto out = args.get("output");
  if (!in || !out) fail(Status::kInvalidArgument, "--megatron-path and --output are required");
  bridge::ReshardOptions o;
  o.target = megatron_target(args);
  o.source.hf_model = model_option(args, "hf-model", hub::Need::kConfig).value_or("");
  o.source.family = args.get("family").value_or("");
  o.progress = progress_bar(!args.has("no-progress"));
  std::string dir = bridge::reshard_checkpoint(model_arg(args, *in, hub::Need::kModel), *out, o);
  if (args.has("json")) {
    json::Value v = json::Value::object();
    v.set("source", *in);
    v.set("output", dir);
    std::printf("%s\n", json::dump(v).c_str());
  } else {
    std::printf("resharded %s into %s\n", in->c_str(), dir.c_str());
  }
  return 0;
}

}  // namespace mb::cli
