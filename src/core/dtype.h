// Element types, and their names in safetensors headers, in torch (dtype and legacy storage class) and
// in our C ABI (the enum order is the ABI's mb_dtype order).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace mb {

enum class DType : uint8_t {
  F64 = 0,
  F32,
  F16,
  BF16,
  F8_E4M3,  // torch.float8_e4m3fn: no infinities, one NaN pattern per sign
  F8_E5M2,
  I64,
  I32,
  I16,
  I8,
  U8,
  BOOL,
};
constexpr int kNumDTypes = 12;

size_t dtype_size(DType dtype);
bool dtype_is_floating(DType dtype);

// "F32", "BF16", "F8_E4M3", ... as safetensors writes them.
const char* dtype_name(DType dtype);
std::optional<DType> dtype_from_name(std::string_view name);

// "float32", "bfloat16", "float8_e4m3fn", ... as torch names them (pickled torch.dtype globals).
const char* dtype_torch_name(DType dtype);
std::optional<DType> dtype_from_torch_name(std::string_view name);

// "FloatStorage", "BFloat16Storage", ... the legacy typed-storage classes torch.save still pickles;
// nullptr for dtypes torch saves through torch.storage.UntypedStorage and _rebuild_tensor_v3 (fp8).
const char* dtype_storage_class(DType dtype);
std::optional<DType> dtype_from_storage_class(std::string_view name);

}  // namespace mb
