// Hugging Face checkpoints stored in FP8 with a scale per block of weights, as DeepSeek-V3 is released
// (config.json's quantization_config {"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [128, 128]}):
// each quantized weight W (F8_E4M3, [rows, cols]) comes with W_scale_inv (F32, [ceil(rows / block rows),
// ceil(cols / block cols)]) and stands for bf16(float(W) * scale of its block) — DeepSeek's weight_dequant.
// mbridge reads such weights dequantized to bf16: Megatron checkpoints and exported folders hold bf16, and
// the config they carry no longer names the quantization.
#pragma once

#include <optional>
#include <string>

#include "core/tensor.h"
#include "io/json.h"

namespace mb::bridge {

struct Fp8Blocks {
  int64_t rows = 128, cols = 128;
};

// The block size when `config` (config.json) declares block-wise FP8; nullopt without a quantization_config.
// kUnsupported for any other quantization (mbridge reads no quantized weights but these).
std::optional<Fp8Blocks> fp8_block_quantization(const json::Value& config, const std::string& source);

// The name of the scale tensor of a quantized weight.
std::string fp8_scale_name(const std::string& weight_name);

// W as bf16; kFormat naming `name` when the shapes or dtypes do not fit together.
Tensor dequantize_fp8_blocks(const Tensor& weight, const Tensor& scale_inv, const Fp8Blocks& blocks,
                             const std::string& name);

// config.json's text without its quantization_config (the weights it describes are bf16 now).
std::string config_without_quantization(const std::string& config_text, const std::string& source);

}  // namespace mb::bridge
