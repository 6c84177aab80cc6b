#include "support/test_support.h"
#include "core/dtype.h"
TEST(Smoke, DtypeNames) { EXPECT_STREQ(mb::dtype_name(mb::DType::BF16), "BF16"); }
