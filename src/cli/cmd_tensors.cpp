// mbridge tensors PATH [--format F] [--json]
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/model_arg.h"
#include "core/error.h"
#include "io/json.h"
#include "io/tensor_files.h"

namespace mb::cli {

namespace {
const char* kHelp =
    "usage: mbridge tensors PATH [--format auto|safetensors|torch|torch_dist|megatron_legacy] [--no-progress] [--json]\n";
}

int run_tensors(int argc, char** argv) {
  Args args(argc, argv, 2, {"format"}, {"json", "no-progress", "help"});
  if (args.has("help")) {
    std::fputs(kHelp, stdout);
    std::fputs(kHubIdHelp, stdout);
    return 0;
  }
  const Format format = format_option(args, "format");
  auto files = open_tensor_files(checkpoint_arg(args, args.positional(0, "PATH"), format), format);
  int64_t params = 0;
  uint64_t bytes = 0;
  for (const TensorInfo& t : files->tensors()) {
    int64_t n = 0;
    checked_numel(t.shape, &n);
    params += n;
    bytes += static_cast<uint64_t>(n) * dtype_size(t.dtype);
  }
  if (args.has("json")) {
    json::Value out = json::Value::object();
    out.set("format", format_name(files->format()));
    json::Value list = json::Value::array();
    for (const TensorInfo& t : files->tensors()) {
      json::Value e = json::Value::object();
      e.set("name", t.name);
      e.set("dtype", dtype_name(t.dtype));
      json::Value shape = json::Value::array();
      for (int64_t d : t.shape) shape.push(d);
      e.set("shape", std::move(shape));
      list.push(std::move(e));
    }
    out.set("tensors", std::move(list));
    out.set("parameters", params);
    out.set("bytes", static_cast<int64_t>(bytes));
    std::printf("%s\n", json::dump(out).c_str());
    return 0;
  }
  size_t width = 4;
  for (const TensorInfo& t : files->tensors()) width = std::max(width, t.name.size());
  for (const TensorInfo& t : files->tensors())
    std::printf("%-*s  %-7s %s\n", static_cast<int>(width), t.name.c_str(), dtype_name(t.dtype), t.shape.to_string().c_str());
  std::printf("%zu tensors, %lld parameters, %llu bytes (%s)\n", files->tensors().size(), static_cast<long long>(params),
              static_cast<unsigned long long>(bytes), format_name(files->format()));
  return 0;
}

}  // namespace mb::cli
