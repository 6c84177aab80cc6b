// The argparse.Namespace ("args") Megatron-LM keeps in its checkpoints: written by us with the fields
// Megatron-LM reads back (--use-checkpoint-args, tools/checkpoint loaders), and read when a checkpoint
// Megatron trained carries no Hugging Face config (megatron/training/arguments.py names).
#pragma once

#include <optional>
#include <string>

#include "bridge/model_config.h"
#include "bridge/parallel_layout.h"
#include "io/pickle_value.h"

namespace mb::bridge {

pickle::Node* make_megatron_args(pickle::Document& doc, const ModelConfig& c, const ParallelLayout& layout,
                                 int64_t padded_vocab, const std::string& ckpt_format, int64_t iteration);

// A ModelConfig from args. `family` picks the Hugging Face family to export as; empty: inferred (MoE with
// q/k norm: qwen3_moe, MoE: mixtral, q/k norm: qwen3, q/k/v bias: qwen2, otherwise llama).
ModelConfig model_config_from_args(const pickle::Node* args, const std::string& family, const std::string& source);

// The parallel sizes and vocabulary padding the args record.
ParallelLayout layout_from_args(const pickle::Node* args);

}  // namespace mb::bridge
