#include "core/cast.h"

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

#include "core/float_formats.h"

namespace mb {
namespace {

// How each dtype is held in memory.
template <DType D> struct Repr;
template <> struct Repr<DType::F64> { using T = double; };
template <> struct Repr<DType::F32> { using T = float; };
template <> struct Repr<DType::F16> { using T = uint16_t; };
template <> struct Repr<DType::BF16> { using T = uint16_t; };
template <> struct Repr<DType::F8_E4M3> { using T = uint8_t; };
template <> struct Repr<DType::F8_E5M2> { using T = uint8_t; };
template <> struct Repr<DType::I64> { using T = int64_t; };
template <> struct Repr<DType::I32> { using T = int32_t; };
template <> struct Repr<DType::I16> { using T = int16_t; };
template <> struct Repr<DType::I8> { using T = int8_t; };
template <> struct Repr<DType::U8> { using T = uint8_t; };
template <> struct Repr<DType::BOOL> { using T = uint8_t; };
template <DType D> using R = typename Repr<D>::T;

constexpr bool is_narrow_float(DType d) {
  return d == DType::F16 || d == DType::BF16 || d == DType::F8_E4M3 || d == DType::F8_E5M2;
}
constexpr bool is_float(DType d) { return d == DType::F64 || d == DType::F32 || is_narrow_float(d); }

template <DType S>
float narrow_to_f32(R<S> x) {
  if constexpr (S == DType::F16) return f16_to_f32(x);
  if constexpr (S == DType::BF16) return bf16_to_f32(x);
  if constexpr (S == DType::F8_E4M3) return f8e4m3_to_f32(x);
  if constexpr (S == DType::F8_E5M2) return f8e5m2_to_f32(x);
  return 0.0f;
}

// A float source as float32 (exact, except F64 which rounds once), or an integer source as float32.
template <DType S>
float as_f32(R<S> x) {
  if constexpr (is_narrow_float(S)) return narrow_to_f32<S>(x);
  else if constexpr (S == DType::BOOL) return x ? 1.0f : 0.0f;
  else return static_cast<float>(x);
}

// A source as float64: exact for every float format and for integers below 2^53.
template <DType S>
double as_f64(R<S> x) {
  if constexpr (is_narrow_float(S)) return static_cast<double>(narrow_to_f32<S>(x));
  else if constexpr (S == DType::BOOL) return x ? 1.0 : 0.0;
  else return static_cast<double>(x);
}

template <class I>
I saturate_to_int(double v) {
  if (std::isnan(v)) return 0;
  constexpr double lo = static_cast<double>(std::numeric_limits<I>::min());
  constexpr double hi = static_cast<double>(std::numeric_limits<I>::max());
  if (v <= lo) return std::numeric_limits<I>::min();
  if (v >= hi) return std::numeric_limits<I>::max();
  return static_cast<I>(v);
}

template <DType S, DType D>
R<D> convert(R<S> x) {
  if constexpr (S == D) {
    return x;
  } else if constexpr (D == DType::BOOL) {
    if constexpr (is_float(S)) return as_f64<S>(x) != 0.0 ? 1 : 0;
    else return x != 0 ? 1 : 0;
  } else if constexpr (D == DType::F64) {
    return as_f64<S>(x);
  } else if constexpr (D == DType::F32) {
    return as_f32<S>(x);
  } else if constexpr (D == DType::BF16) {
    // torch's vectorised path serves float32/float64 sources; the others go through c10::BFloat16(float)
    if constexpr (S == DType::F32 || S == DType::F64) return f32_to_bf16(as_f32<S>(x));
    else return f32_to_bf16_scalar_path(as_f32<S>(x));
  } else if constexpr (D == DType::F16) {
    return f32_to_f16(as_f32<S>(x));  // float64 too rounds through float32 first, as torch does
  } else if constexpr (D == DType::F8_E4M3) {
    return f32_to_f8e4m3(as_f32<S>(x));
  } else if constexpr (D == DType::F8_E5M2) {
    return f32_to_f8e5m2(as_f32<S>(x));
  } else if constexpr (is_float(S)) {
    return saturate_to_int<R<D>>(as_f64<S>(x));
  } else {
    // integer or bool to integer: two's-complement wrap, as torch does
    using U = std::make_unsigned_t<R<D>>;
    return static_cast<R<D>>(static_cast<U>(static_cast<int64_t>(x)));
  }
}

template <DType S, DType D>
void cast_loop(const void* src, void* dst, size_t n) {
  const char* s = static_cast<const char*>(src);
  char* d = static_cast<char*>(dst);
  for (size_t i = 0; i < n; ++i) {
    R<S> x;
    std::memcpy(&x, s + i * sizeof(R<S>), sizeof(R<S>));
    R<D> y = convert<S, D>(x);
    std::memcpy(d + i * sizeof(R<D>), &y, sizeof(R<D>));
  }
}

using CastFn = void (*)(const void*, void*, size_t);

template <DType S, size_t... Ds>
constexpr std::array<CastFn, kNumDTypes> row(std::index_sequence<Ds...>) {
  return {{&cast_loop<S, static_cast<DType>(Ds)>...}};
}

template <size_t... Ss>
constexpr std::array<std::array<CastFn, kNumDTypes>, kNumDTypes> table(std::index_sequence<Ss...>) {
  return {{row<static_cast<DType>(Ss)>(std::make_index_sequence<kNumDTypes>())...}};
}

constexpr auto kCastTable = table(std::make_index_sequence<kNumDTypes>());

}  // namespace

void cast_elements(const void* src, DType src_dtype, void* dst, DType dst_dtype, size_t n, bool zero_dim) {
  if (n == 0) return;
  if (src_dtype == dst_dtype) {
    if (src != dst) std::memmove(dst, src, n * dtype_size(src_dtype));
    return;
  }
  if (zero_dim && dst_dtype == DType::BF16 && (src_dtype == DType::F32 || src_dtype == DType::F64)) {
    double v = 0;
    if (src_dtype == DType::F32) {
      float f;
      std::memcpy(&f, src, 4);
      v = f;
    } else {
      std::memcpy(&v, src, 8);
    }
    uint16_t h = f32_to_bf16_scalar_path(static_cast<float>(v));
    std::memcpy(dst, &h, 2);
    return;
  }
  kCastTable[static_cast<size_t>(src_dtype)][static_cast<size_t>(dst_dtype)](src, dst, n);
}

}  // namespace mb
