// mbridge list [--json]: the families mbridge converts.
#include <cstdio>

#include "bridge/bridge_info.h"
#include "bridge/registry.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "io/json.h"

namespace mb::cli {

int run_list(int argc, char** argv) {
  Args args(argc, argv, 2, {}, {"json", "help"});
  if (args.has("help")) {
    std::fputs("usage: mbridge list [--json]\n", stdout);
    return 0;
  }
  if (args.has("json")) {
    std::printf("%s\n", json::dump(bridge::supported_families_json()).c_str());
    return 0;
  }
  for (const bridge::Family* f : bridge::all_families())
    std::printf("%-10s %-22s %s\n", f->name.c_str(), f->architectures[0].c_str(), f->description.c_str());
  return 0;
}

}  // namespace mb::cli
