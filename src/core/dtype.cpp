#include "core/dtype.h"

#include <array>

namespace mb {
namespace {

struct DTypeNames {
  DType dtype;
  size_t size;
  bool floating;
  const char* name;
  const char* torch_name;
  const char* storage_class;
};

constexpr std::array<DTypeNames, kNumDTypes> kTable = {{
    {DType::F64, 8, true, "F64", "float64", "DoubleStorage"},
    {DType::F32, 4, true, "F32", "float32", "FloatStorage"},
    {DType::F16, 2, true, "F16", "float16", "HalfStorage"},
    {DType::BF16, 2, true, "BF16", "bfloat16", "BFloat16Storage"},
    // torch.save has no typed storage class for fp8: it writes an UntypedStorage and _rebuild_tensor_v3
    {DType::F8_E4M3, 1, true, "F8_E4M3", "float8_e4m3fn", nullptr},
    {DType::F8_E5M2, 1, true, "F8_E5M2", "float8_e5m2", nullptr},
    {DType::I64, 8, false, "I64", "int64", "LongStorage"},
    {DType::I32, 4, false, "I32", "int32", "IntStorage"},
    {DType::I16, 2, false, "I16", "int16", "ShortStorage"},
    {DType::I8, 1, false, "I8", "int8", "CharStorage"},
    {DType::U8, 1, false, "U8", "uint8", "ByteStorage"},
    {DType::BOOL, 1, false, "BOOL", "bool", "BoolStorage"},
}};

const DTypeNames& entry(DType dtype) { return kTable[static_cast<size_t>(dtype)]; }

// torch also pickles some dtypes under their C-style aliases.
struct Alias {
  const char* alias;
  DType dtype;
};
constexpr Alias kTorchAliases[] = {
    {"double", DType::F64}, {"float", DType::F32}, {"half", DType::F16}, {"long", DType::I64},
    {"int", DType::I32},    {"short", DType::I16}, {"uint8", DType::U8}, {"bool", DType::BOOL},
};

}  // namespace

size_t dtype_size(DType dtype) { return entry(dtype).size; }
bool dtype_is_floating(DType dtype) { return entry(dtype).floating; }
const char* dtype_name(DType dtype) { return entry(dtype).name; }
const char* dtype_torch_name(DType dtype) { return entry(dtype).torch_name; }
const char* dtype_storage_class(DType dtype) { return entry(dtype).storage_class; }

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& e : kTable)
    if (name == e.name) return e.dtype;
  return std::nullopt;
}

std::optional<DType> dtype_from_torch_name(std::string_view name) {
  if (name.substr(0, 6) == "torch.") name.remove_prefix(6);
  for (const auto& e : kTable)
    if (name == e.torch_name) return e.dtype;
  for (const auto& a : kTorchAliases)
    if (name == a.alias) return a.dtype;
  return std::nullopt;
}

std::optional<DType> dtype_from_storage_class(std::string_view name) {
  for (const auto& e : kTable)
    if (e.storage_class && name == e.storage_class) return e.dtype;
  return std::nullopt;
}

}  // namespace mb
