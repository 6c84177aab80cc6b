// mbridge transcode SRC DST --to FORMAT [options]: every tensor, same names, another file format.
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/model_arg.h"
#include "cli/progress_bar.h"
#include "core/error.h"
#include "io/json.h"
#include "io/tensor_files.h"

namespace mb::cli {

namespace {
const char* kHelp = R"(usage: mbridge transcode SRC DST --to FORMAT [options]
  --to FORMAT            safetensors | torch | torch_dist | megatron_legacy
  --from FORMAT          the source format (default: detected)
  --max-shard-size SIZE  safetensors shard limit, e.g. 5GB, 500MB (default 5GB)
  --files N              torch_dist: number of .distcp files (default 1)
  --chunks N             torch_dist: chunks per tensor along its first dimension (default 1)
  --dtype DTYPE          cast floating-point tensors (F32, BF16, F16, ...)
  --no-progress          no progress bar
  --json                 print the written files as JSON
)";
}

int run_transcode(int argc, char** argv) {
  Args args(argc, argv, 2, {"to", "from", "max-shard-size", "files", "chunks", "dtype"}, {"no-progress", "json", "help"});
  if (args.has("help")) {
    std::fputs(kHelp, stdout);
    std::fputs(kHubIdHelp, stdout);
    return 0;
  }
  const std::string& src_path = args.positional(0, "SRC");
  const std::string& dst_path = args.positional(1, "DST");
  Format to = format_option(args, "to");
  if (to == Format::kAuto) fail(Status::kInvalidArgument, "--to FORMAT is required");
  TranscodeOptions o;
  o.format = to;
  o.max_shard_bytes = args.get_size("max-shard-size", o.max_shard_bytes);
  o.files = static_cast<int>(args.get_int("files", 1));
  o.chunks = static_cast<int>(args.get_int("chunks", 1));
  if (o.files < 1 || o.chunks < 1) fail(Status::kInvalidArgument, "--files and --chunks must be at least 1");
  if (auto d = args.get("dtype")) {
    auto dt = dtype_from_name(*d);
    if (!dt) dt = dtype_from_torch_name(*d);
    if (!dt) fail(Status::kInvalidArgument, "--dtype '", *d, "' is not a dtype (F32, BF16, F16, ...)");
    o.dtype = *dt;
  }
  o.progress = progress_bar(!args.has("no-progress"));
  const Format from = format_option(args, "from");
  auto src = open_tensor_files(checkpoint_arg(args, src_path, from), from);
  auto written = transcode(*src, dst_path, o);
  if (args.has("json")) {
    json::Value out = json::Value::object();
    out.set("format", format_name(to));
    json::Value files = json::Value::array();
    for (const auto& f : written) files.push(f);
    out.set("files", std::move(files));
    out.set("tensors", static_cast<int64_t>(src->tensors().size()));
    std::printf("%s\n", json::dump(out).c_str());
  } else {
    std::printf("wrote %zu tensors as %s to %s (%zu files)\n", src->tensors().size(), format_name(to), dst_path.c_str(),
                written.size());
  }
  return 0;
}

}  // namespace mb::cli
