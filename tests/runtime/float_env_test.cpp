#include "veil/runtime/float_env.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include <ATen/ATen.h>

namespace veil::runtime {
namespace {

// 1e-39 is a float denormal: with the policy applied it is read as 0 (DAZ), and a product that
// would underflow into the denormal range comes out 0 (FTZ).
TEST(FloatEnv, FlushDenormalsZeroesDenormalInputsAndResultsAndCanBeTurnedOff) {
  volatile float tiny = 1e-39f, small = 1e-20f;
  ::unsetenv("VEIL_DENORMALS");
  const auto applied = flush_denormals();
  if (applied.rfind("flush", 0) != 0) GTEST_SKIP() << "denormal flushing not supported here: " << applied;
  EXPECT_EQ(tiny * 1.0f, 0.0f);
  EXPECT_EQ(small * small, 0.0f);
  auto t = at::full({64}, 1e-39f);
  EXPECT_EQ((t * 2.0f).abs().max().item<float>(), 0.0f);

  ::setenv("VEIL_DENORMALS", "keep", 1);
  EXPECT_EQ(flush_denormals(), "keep");
  EXPECT_GT(tiny * 1.0f, 0.0f);
  EXPECT_GT(small * small, 0.0f);
  ::unsetenv("VEIL_DENORMALS");
}

}  // namespace
}  // namespace veil::runtime
