#include "cli/bridge_options.h"

#include "core/error.h"

namespace mb::cli {

const std::set<std::string> kTargetOptions = {"tp", "pp", "vpp", "ep", "format", "dtype", "spec", "iteration",
                                              "vocab-divisible-by"};

const char* kTargetHelp = R"(  --tp N --pp N --vpp N --ep N   tensor / pipeline / virtual pipeline / expert parallel sizes (1)
  --format torch_dist|legacy      Megatron checkpoint format (torch_dist)
  --spec te|local                 module spec the model trains with: Transformer Engine (te) or local
  --dtype DTYPE                   cast parameters (BF16, F16, F32); default: as stored
  --iteration N                   iteration folder to write (0)
  --vocab-divisible-by N          pad the vocabulary to a multiple of N * tp (1)
)";

std::optional<DType> dtype_option(const Args& args) {
  auto d = args.get("dtype");
  if (!d) return std::nullopt;
  auto dt = dtype_from_name(*d);
  if (!dt) dt = dtype_from_torch_name(*d);
  if (!dt) fail(Status::kInvalidArgument, "--dtype '", *d, "' is not a dtype (BF16, F16, F32, ...)");
  return *dt;
}

bridge::MegatronTarget megatron_target(const Args& args) {
  bridge::MegatronTarget t;
  t.layout.tp = static_cast<int>(args.get_int("tp", 1));
  t.layout.pp = static_cast<int>(args.get_int("pp", 1));
  t.layout.vpp = static_cast<int>(args.get_int("vpp", 1));
  t.layout.ep = static_cast<int>(args.get_int("ep", 1));
  t.layout.vocab_divisible_by = args.get_int("vocab-divisible-by", 1);
  t.iteration = args.get_int("iteration", 0);
  if (t.iteration < 0) fail(Status::kInvalidArgument, "--iteration must not be negative");
  std::string format = args.get("format").value_or("torch_dist");
  if (format == "torch_dist" || format == "dist") t.format = Format::kTorchDist;
  else if (format == "legacy" || format == "torch" || format == "megatron_legacy") t.format = Format::kMegatronLegacy;
  else fail(Status::kInvalidArgument, "--format '", format, "': use torch_dist or legacy");
  std::string spec = args.get("spec").value_or("te");
  if (spec == "te" || spec == "transformer_engine") t.layout.spec = bridge::MegatronSpec::kTransformerEngine;
  else if (spec == "local") t.layout.spec = bridge::MegatronSpec::kLocal;
  else fail(Status::kInvalidArgument, "--spec '", spec, "': use te or local");
  t.dtype = dtype_option(args);
  return t;
}

}  // namespace mb::cli
