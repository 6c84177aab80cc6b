#include "bridge/fp8_weights.h"

#include "core/error.h"
#include "core/float_formats.h"

namespace mb::bridge {

std::optional<Fp8Blocks> fp8_block_quantization(const json::Value& config, const std::string& source) {
  const json::Value* q = config.is_object() ? config.find("quantization_config") : nullptr;
  if (!q || q->is_null()) return std::nullopt;
  const json::Value* method = q->find("quant_method");
  const json::Value* fmt = q->find("fmt");
  if (!method || !method->is_string() || method->as_string() != "fp8" ||
      (fmt && !(fmt->is_string() && fmt->as_string() == "e4m3")))
    fail(Status::kUnsupported, source, ": quantization_config ", json::dump(*q),
         " (block-wise FP8 e4m3 is the quantization mbridge reads)");
  Fp8Blocks b;
  if (const json::Value* size = q->find("weight_block_size"); size && !size->is_null()) {
    if (!size->is_array() || size->size() != 2 || !size->items()[0].is_int() || !size->items()[1].is_int() ||
        size->items()[0].as_int() <= 0 || size->items()[1].as_int() <= 0)
      fail(Status::kFormat, source, ": weight_block_size must be two positive integers");
    b.rows = size->items()[0].as_int();
    b.cols = size->items()[1].as_int();
  } else {
    fail(Status::kUnsupported, source, ": FP8 without weight_block_size (per-tensor scales) is not read");
  }
  return b;
}

std::string fp8_scale_name(const std::string& weight_name) { return weight_name + "_scale_inv"; }

Tensor dequantize_fp8_blocks(const Tensor& weight, const Tensor& scale_inv, const Fp8Blocks& blocks,
                             const std::string& name) {
  if (weight.dtype() != DType::F8_E4M3 || weight.ndim() != 2)
    fail(Status::kFormat, name, ": a block-quantized weight must be a 2-D F8_E4M3 tensor, not ", weight.describe());
  const int64_t rows = weight.shape()[0], cols = weight.shape()[1];
  const int64_t block_rows = (rows + blocks.rows - 1) / blocks.rows, block_cols = (cols + blocks.cols - 1) / blocks.cols;
  if (scale_inv.ndim() != 2 || scale_inv.shape()[0] != block_rows || scale_inv.shape()[1] != block_cols)
    fail(Status::kFormat, fp8_scale_name(name), ": ", scale_inv.describe(), " where ", name, " ", weight.describe(),
         " in blocks of ", blocks.rows, " x ", blocks.cols, " needs [", block_rows, ", ", block_cols, "]");
  const Tensor w = weight.contiguous();
  const Tensor s = scale_inv.contiguous().to(DType::F32);
  const uint8_t* q = w.data_as<uint8_t>();
  const float* scale = s.data_as<float>();
  Tensor out = Tensor::empty(DType::BF16, weight.shape());
  uint16_t* dst = out.mutable_data_as<uint16_t>();
  for (int64_t r = 0; r < rows; ++r) {
    const float* scale_row = scale + (r / blocks.rows) * block_cols;
    for (int64_t c = 0; c < cols; ++c)
      dst[r * cols + c] = f32_to_bf16(f8e4m3_to_f32(q[r * cols + c]) * scale_row[c / blocks.cols]);
  }
  return out;
}

std::string config_without_quantization(const std::string& config_text, const std::string& source) {
  json::Value config = json::parse(config_text, source);
  config.erase("quantization_config");
  return json::dump(config, 2) + "\n";
}

}  // namespace mb::bridge
