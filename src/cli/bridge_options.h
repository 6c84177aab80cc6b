// The options import, reshard and roundtrip share: the Megatron layout and format to write.
#pragma once

#include "bridge/megatron_writer.h"
#include "cli/args.h"

namespace mb::cli {

// Option names: tp, pp, vpp, ep, format, dtype, spec, iteration, vocab-divisible-by.
extern const std::set<std::string> kTargetOptions;
bridge::MegatronTarget megatron_target(const Args& args);
std::optional<DType> dtype_option(const Args& args);
extern const char* kTargetHelp;

}  // namespace mb::cli
