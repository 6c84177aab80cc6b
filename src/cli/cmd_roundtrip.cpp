// mbridge roundtrip --hf-model DIR [--output-dir DIR] [layout options]: HF -> Megatron -> HF, compared bit for
// bit; prints every tensor (name, shape, dtype, matches) and exits 1 on any mismatch.
#include <algorithm>
#include <cstdio>

#include "bridge/convert.h"
#include "cli/bridge_options.h"
#include "cli/commands.h"
#include "cli/model_arg.h"
#include "cli/progress_bar.h"
#include "core/error.h"
#include "io/json.h"

namespace mb::cli {

int run_roundtrip(int argc, char** argv) {
  std::set<std::string> options = kTargetOptions;
  options.insert({"hf-model", "output-dir"});
  Args args(argc, argv, 2, options, {"no-progress", "json", "help"});
  if (args.has("help")) {
    std::printf("usage: mbridge roundtrip --hf-model DIR [--output-dir DIR] [options]\n%s"
                "  --output-dir DIR                keep the Megatron and Hugging Face copies here\n"
                "  --no-progress --json\n%s", kTargetHelp, kHubIdHelp);
    return 0;
  }
  auto hf = args.get("hf-model");
  if (!hf) fail(Status::kInvalidArgument, "--hf-model is required");
  bridge::RoundtripResult r = bridge::roundtrip(model_arg(args, *hf, hub::Need::kModel), args.get("output-dir").value_or(""), megatron_target(args),
                                                progress_bar(!args.has("no-progress")));
  size_t bad = std::count_if(r.rows.begin(), r.rows.end(), [](const bridge::RoundtripRow& x) { return !x.matches; });
  if (args.has("json")) {
    json::Value v = json::Value::object();
    json::Value rows = json::Value::array();
    for (const auto& x : r.rows) {
      json::Value e = json::Value::object();
      e.set("name", x.name);
      e.set("shape", x.shape);
      e.set("dtype", x.dtype);
      e.set("matches", x.matches);
      rows.push(std::move(e));
    }
    v.set("tensors", std::move(rows));
    v.set("mismatches", static_cast<int64_t>(bad));
    std::printf("%s\n", json::dump(v).c_str());
  } else {
    size_t w = 4;
    for (const auto& x : r.rows) w = std::max(w, x.name.size());
    std::printf("%-*s  %-16s %-8s %s\n", static_cast<int>(w), "tensor", "shape", "dtype", "matches");
    for (const auto& x : r.rows)
      std::printf("%-*s  %-16s %-8s %s\n", static_cast<int>(w), x.name.c_str(), x.shape.c_str(), x.dtype.c_str(),
                  x.matches ? "yes" : "NO");
    std::printf("%zu tensors, %zu mismatches\n", r.rows.size(), bad);
  }
  return bad ? 1 : 0;
}

}  // namespace mb::cli
