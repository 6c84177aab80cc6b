// mbridge export --megatron-path DIR --hf-path DIR [--hf-model DIR] [--family NAME]: Megatron -> Hugging Face.
#include <cstdio>

#include "bridge/convert.h"
#include "cli/bridge_options.h"
#include "cli/commands.h"
#include "cli/model_arg.h"
#include "cli/progress_bar.h"
#include "core/error.h"
#include "io/json.h"

namespace mb::cli {

int run_export(int argc, char** argv) {
  Args args(argc, argv, 2, {"megatron-path", "hf-path", "hf-model", "family", "dtype", "max-shard-size"},
            {"no-progress", "json", "help"});
  if (args.has("help")) {
    std::fputs(R"(usage: mbridge export --megatron-path DIR --hf-path DIR [options]
  --hf-model DIR          config.json (or its folder) describing the model; default: the one stored at import
  --family NAME           family to export as when the checkpoint stores no config.json (mbridge list)
  --dtype DTYPE           cast tensors (BF16, F16, F32); default: as stored
  --max-shard-size SIZE   safetensors shard limit (5GB)
  --no-progress --json
)", stdout);
    std::fputs(kHubIdHelp, stdout);
    return 0;
  }
  auto in = args.get("megatron-path");
  auto out = args.get("hf-path");
  if (!in || !out) fail(Status::kInvalidArgument, "--megatron-path and --hf-path are required");
  bridge::ExportOptions o;
  o.source.hf_model = model_option(args, "hf-model", hub::Need::kConfig).value_or("");
  o.source.family = args.get("family").value_or("");
  o.target.dtype = dtype_option(args);
  o.target.shards.max_shard_bytes = args.get_size("max-shard-size", o.target.shards.max_shard_bytes);
  o.progress = progress_bar(!args.has("no-progress"));
  std::vector<std::string> files = bridge::export_checkpoint(*in, *out, o);
  if (args.has("json")) {
    json::Value v = json::Value::object();
    v.set("hf_path", *out);
    json::Value f = json::Value::array();
    for (const auto& x : files) f.push(x);
    v.set("files", std::move(f));
    std::printf("%s\n", json::dump(v).c_str());
  } else {
    std::printf("exported %s to %s (%zu files)\n", in->c_str(), out->c_str(), files.size());
  }
  return 0;
}

}  // namespace mb::cli
