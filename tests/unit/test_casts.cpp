// dtype casts against torch: tests/fixtures/foundation/casts.safetensors holds inputs and the results
// torch 2.11 computed for them on the GPU machine's CPU (generate_foundation_fixtures.py, make_casts).
#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/cast.h"
#include "core/tensor.h"
#include "io/safetensors.h"
#include "support/test_support.h"

using namespace mb;

namespace {

class CastsFromTorch : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { file_ = SafetensorsFile::open(mbtest::fixture("foundation/casts.safetensors")); }
  static void TearDownTestSuite() { file_.reset(); }

  // Casts `input` to `dtype` with our code and compares every byte with torch's `expected`.
  void check(const std::string& input, const std::string& expected) {
    Tensor in = file_->tensor(input);
    Tensor want = file_->tensor(expected);
    Tensor got = Tensor::empty(want.dtype(), in.shape());
    cast_elements(in.data(), in.dtype(), got.mutable_data(), got.dtype(), static_cast<size_t>(in.numel()));
    const size_t es = want.element_size();
    const auto* g = static_cast<const uint8_t*>(got.data());
    const auto* w = static_cast<const uint8_t*>(want.data());
    const auto* x = static_cast<const uint8_t*>(in.data());
    int mismatches = 0;
    for (int64_t i = 0; i < in.numel(); ++i) {
      if (std::memcmp(g + i * es, w + i * es, es) == 0) continue;
      if (++mismatches <= 5) {
        uint64_t gv = 0, wv = 0, xv = 0;
        std::memcpy(&gv, g + i * es, es);
        std::memcpy(&wv, w + i * es, es);
        std::memcpy(&xv, x + i * in.element_size(), in.element_size());
        ADD_FAILURE() << input << " -> " << expected << " element " << i << ": input bits 0x" << std::hex << xv
                      << " gave 0x" << gv << ", torch 0x" << wv;
      }
    }
    EXPECT_EQ(mismatches, 0) << input << " -> " << expected << " (" << in.numel() << " elements)";
  }

  static std::shared_ptr<SafetensorsFile> file_;
};
std::shared_ptr<SafetensorsFile> CastsFromTorch::file_;

}  // namespace

TEST_F(CastsFromTorch, Float32ToBFloat16) { check("f32", "f32_to_bf16"); }
TEST_F(CastsFromTorch, Float32ToFloat16) { check("f32", "f32_to_f16"); }
TEST_F(CastsFromTorch, Float32ToFloat8E4M3) { check("f32", "f32_to_e4m3"); }
TEST_F(CastsFromTorch, Float32ToFloat8E5M2) { check("f32", "f32_to_e5m2"); }
TEST_F(CastsFromTorch, Float64ToFloat32) { check("f64", "f64_to_f32"); }
TEST_F(CastsFromTorch, Float64ToBFloat16) { check("f64", "f64_to_bf16"); }
TEST_F(CastsFromTorch, Float64ToFloat16) { check("f64", "f64_to_f16"); }
TEST_F(CastsFromTorch, EveryBFloat16ToFloat32) { check("bf16_all", "bf16_all_to_f32"); }
TEST_F(CastsFromTorch, EveryFloat16ToFloat32) { check("f16_all", "f16_all_to_f32"); }
TEST_F(CastsFromTorch, EveryFloat16ToBFloat16) { check("f16_all", "f16_all_to_bf16"); }
TEST_F(CastsFromTorch, EveryFloat8E4M3ToFloat32) { check("e4m3_all", "e4m3_all_to_f32"); }
TEST_F(CastsFromTorch, EveryFloat8E5M2ToFloat32) { check("e5m2_all", "e5m2_all_to_f32"); }

TEST_F(CastsFromTorch, ZeroDimTensorsTakeTorchsScalarPath) {
  // a NaN becomes 0x7FC0 in a 0-d tensor but 0xFFFF in a 1-element one
  for (auto [in, out] : {std::pair{"f32_0d_nan", "f32_0d_nan_to_bf16"}, std::pair{"f32_1d_nan", "f32_1d_nan_to_bf16"}}) {
    SCOPED_TRACE(in);
    EXPECT_TRUE(mbtest::BitwiseEqual(file_->tensor(in).to(DType::BF16), file_->tensor(out)));
  }
}

TEST(Casts, IntegersAndBools) {
  const float in[] = {-2.7f, -0.5f, 0.0f, 1.9f, 300.0f, 1e20f, -1e20f, NAN};
  int8_t i8[8];
  uint8_t b[8];
  int64_t i64[8];
  cast_elements(in, DType::F32, i8, DType::I8, 8);
  cast_elements(in, DType::F32, b, DType::BOOL, 8);
  cast_elements(in, DType::F32, i64, DType::I64, 8);
  const int8_t want_i8[] = {-2, 0, 0, 1, 127, 127, -128, 0};  // truncate toward zero, saturate, NaN -> 0
  const uint8_t want_b[] = {1, 1, 0, 1, 1, 1, 1, 1};
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(i8[i], want_i8[i]) << i;
    EXPECT_EQ(b[i], want_b[i]) << i;
  }
  EXPECT_EQ(i64[4], 300);
  EXPECT_EQ(i64[5], INT64_MAX);  // 1e20 saturates
  EXPECT_EQ(i64[6], INT64_MIN);
  const int32_t wide[] = {-1, 256, 70000};
  uint8_t narrow[3];
  cast_elements(wide, DType::I32, narrow, DType::U8, 3);  // two's-complement wrap, as torch does
  EXPECT_EQ(narrow[0], 255);
  EXPECT_EQ(narrow[1], 0);
  EXPECT_EQ(narrow[2], 70000 & 0xFF);
}
