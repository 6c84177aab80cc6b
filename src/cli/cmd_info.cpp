// mbridge info PATH [--format F] [--json]
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/model_arg.h"
#include "io/json.h"
#include "io/tensor_files.h"

namespace mb::cli {

int run_info(int argc, char** argv) {
  Args args(argc, argv, 2, {"format"}, {"json", "no-progress", "help"});
  if (args.has("help")) {
    std::fputs("usage: mbridge info PATH [--format F] [--no-progress] [--json]\n", stdout);
    std::fputs(kHubIdHelp, stdout);
    return 0;
  }
  const Format format = format_option(args, "format");
  auto files = open_tensor_files(checkpoint_arg(args, args.positional(0, "PATH"), format), format);
  json::Value v = json::Value::object();
  v.set("format", format_name(files->format()));
  v.set("path", files->path());
  v.set("tensors", static_cast<int64_t>(files->tensors().size()));
  v.set("details", files->describe());
  std::printf("%s\n", json::dump(v, args.has("json") ? -1 : 2).c_str());
  return 0;
}

}  // namespace mb::cli
