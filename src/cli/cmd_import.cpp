// mbridge import --hf-model DIR --megatron-path DIR [layout options]: Hugging Face -> Megatron.
#include <cstdio>

#include "bridge/convert.h"
#include "cli/bridge_options.h"
#include "cli/commands.h"
#include "cli/model_arg.h"
#include "cli/progress_bar.h"
#include "core/error.h"
#include "io/json.h"

namespace mb::cli {

int run_import(int argc, char** argv) {
  std::set<std::string> options = kTargetOptions;
  options.insert({"hf-model", "megatron-path"});
  Args args(argc, argv, 2, options, {"allow-unused", "no-progress", "json", "help"});
  if (args.has("help")) {
    std::printf("usage: mbridge import --hf-model DIR --megatron-path DIR [options]\n%s"
                "  --allow-unused                  skip Hugging Face tensors no parameter uses (default: error)\n"
                "  --no-progress --json\n%s", kTargetHelp, kHubIdHelp);
    return 0;
  }
  auto hf = args.get("hf-model");
  auto out = args.get("megatron-path");
  if (!hf || !out) fail(Status::kInvalidArgument, "--hf-model and --megatron-path are required");
  bridge::ImportOptions o;
  o.target = megatron_target(args);
  o.source.allow_unused = args.has("allow-unused");
  o.progress = progress_bar(!args.has("no-progress"));
  const std::string local = model_arg(args, *hf, hub::Need::kModel);
  std::string dir = bridge::import_checkpoint(local, *out, o);
  if (args.has("json")) {
    json::Value v = json::Value::object();
    v.set("hf_model", local);
    v.set("megatron_path", *out);
    v.set("iteration_dir", dir);
    std::printf("%s\n", json::dump(v).c_str());
  } else {
    std::printf("imported %s into %s\n", hf->c_str(), dir.c_str());
  }
  return 0;
}

}  // namespace mb::cli
