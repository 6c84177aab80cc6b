// Scalar conversions between float32 and the narrow float formats, bit for bit as torch 2.11 on x86-64
// does them (checked against tests/fixtures/foundation/casts.safetensors, which torch wrote).
//  - float32 -> bfloat16: round to nearest even; every NaN becomes 0xFFFF (torch's vectorised CPU path).
//    Conversions that reach bfloat16 through torch's scalar path (from float16 or fp8) give 0x7FC0 instead.
//  - float32 <-> float16: IEEE round to nearest even; NaN payloads kept and quietened (what F16C does).
//  - float8 e4m3fn / e5m2: the c10 algorithms (out-of-range e4m3 values become NaN, e5m2 overflows to inf).
// Inline so that cast loops vectorise; host and device code share nothing here (kernels/ has its own).
#pragma once

#include <cstdint>
#include <cstring>

namespace mb {

inline uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float f32_from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// ---- bfloat16 --------------------------------------------------------------------------------------
inline float bf16_to_f32(uint16_t h) { return f32_from_bits(static_cast<uint32_t>(h) << 16); }

inline uint16_t f32_to_bf16(float f) {  // torch's vectorised path
  uint32_t u = f32_bits(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return 0xFFFF;
  return static_cast<uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

inline uint16_t f32_to_bf16_scalar_path(float f) {  // c10::BFloat16(float)
  uint32_t u = f32_bits(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return 0x7FC0;
  return static_cast<uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

// ---- float16 ----------------------------------------------------------------------------------------
inline float f16_to_f32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t mant = h & 0x3FFu;
  if (exp == 0x1F) return f32_from_bits(sign | 0x7F800000u | (mant ? 0x00400000u | (mant << 13) : 0u));
  if (exp != 0) return f32_from_bits(sign | ((exp + 112u) << 23) | (mant << 13));
  if (mant == 0) return f32_from_bits(sign);
  // subnormal: value = mant * 2^-24, exactly representable in float32
  float v = static_cast<float>(mant) * f32_from_bits(0x33800000u);  // 2^-24
  return f32_from_bits(sign | f32_bits(v));
}

inline uint16_t f32_to_f16(float f) {
  uint32_t u = f32_bits(f);
  uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  uint32_t a = u & 0x7FFFFFFFu;
  if (a > 0x7F800000u) return static_cast<uint16_t>(sign | 0x7E00u | ((a >> 13) & 0x3FFu));  // NaN
  if (a >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);  // rounds to >= 65520: inf
  if (a >= 0x38800000u) {  // normal half (>= 2^-14)
    uint32_t r = a + 0xC8000FFFu + ((a >> 13) & 1u);  // rebias exponent (-112 << 23) and round
    return static_cast<uint16_t>(sign | (r >> 13));
  }
  if (a < 0x33000000u) return sign;  // below half of the smallest subnormal (2^-25): zero
  // subnormal half: shift the full significand, round to nearest even
  uint32_t exp = a >> 23;
  uint32_t mant = (a & 0x7FFFFFu) | 0x800000u;
  uint32_t shift = 126u - exp;  // 113 - exp + 13
  uint32_t half = mant >> shift;
  uint32_t rem = mant & ((1u << shift) - 1u);
  uint32_t mid = 1u << (shift - 1u);
  if (rem > mid || (rem == mid && (half & 1u))) half += 1u;
  return static_cast<uint16_t>(sign | half);
}

// ---- float8 e4m3fn ----------------------------------------------------------------------------------
inline float f8e4m3_to_f32(uint8_t v) {
  uint32_t sign = static_cast<uint32_t>(v & 0x80u) << 24;
  uint32_t exp = (v >> 3) & 0xFu;
  uint32_t mant = v & 0x7u;
  if (exp == 0xF && mant == 0x7) return f32_from_bits(sign | 0x7FF00000u);
  if (exp != 0) return f32_from_bits(sign | ((exp + 120u) << 23) | (mant << 20));
  if (mant == 0) return f32_from_bits(sign);
  float m = static_cast<float>(mant) * f32_from_bits(0x3B000000u);  // mant * 2^-9
  return f32_from_bits(sign | f32_bits(m));
}

inline uint8_t f32_to_f8e4m3(float f) {
  const uint32_t fp8_max = 1087u << 20;        // 480.0: from here on, NaN
  const uint32_t denorm_mask = 141u << 23;     // 2^14
  uint32_t bits = f32_bits(f);
  uint32_t sign = bits & 0x80000000u;
  bits ^= sign;
  uint8_t result;
  if (bits >= fp8_max) {
    result = 0x7F;
  } else if (bits < (121u << 23)) {  // below 2^-6: subnormal, rounded by the float adder
    bits = f32_bits(f32_from_bits(bits) + f32_from_bits(denorm_mask));
    result = static_cast<uint8_t>(bits - denorm_mask);
  } else {
    uint32_t mant_odd = (bits >> 20) & 1u;
    bits += (static_cast<uint32_t>(7 - 127) << 23) + 0x7FFFFu;
    bits += mant_odd;
    result = static_cast<uint8_t>(bits >> 20);
  }
  return static_cast<uint8_t>(result | (sign >> 24));
}

// ---- float8 e5m2 (the top byte of a float16) --------------------------------------------------------
inline float f8e5m2_to_f32(uint8_t v) { return f16_to_f32(static_cast<uint16_t>(v) << 8); }

inline uint8_t f32_to_f8e5m2(float f) {
  const uint32_t fp32_inf = 255u << 23;
  const uint32_t fp8_max = 143u << 23;     // 2^16: from here on, inf (or NaN)
  const uint32_t denorm_mask = 134u << 23;  // 2^7
  uint32_t bits = f32_bits(f);
  uint32_t sign = bits & 0x80000000u;
  bits ^= sign;
  uint8_t result;
  if (bits >= fp8_max) {
    result = bits > fp32_inf ? 0x7F : 0x7C;
  } else if (bits < (113u << 23)) {  // below 2^-14
    bits = f32_bits(f32_from_bits(bits) + f32_from_bits(denorm_mask));
    result = static_cast<uint8_t>(bits - denorm_mask);
  } else {
    uint32_t mant_odd = (bits >> 21) & 1u;
    bits += (static_cast<uint32_t>(15 - 127) << 23) + 0xFFFFFu;
    bits += mant_odd;
    result = static_cast<uint8_t>(bits >> 21);
  }
  return static_cast<uint8_t>(result | (sign >> 24));
}

}  // namespace mb
