// `--layers A:B` (veil/designs/layer_range.h): the forms a worker accepts and one clear error for
// each malformed one.
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "veil/designs/layer_range.h"

namespace veil::designs {
namespace {

std::string error_of(const std::string& s) {
  try {
    (void)parse_layer_range(s);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(LayerRange, AcceptsARangeAnOpenEndAndNothing) {
  EXPECT_EQ(parse_layer_range("2:5"), std::make_pair(2, 5));
  EXPECT_EQ(parse_layer_range("3:"), std::make_pair(3, -1));
  EXPECT_EQ(parse_layer_range(""), std::make_pair(0, -1));
  EXPECT_EQ(parse_layer_range("0:1"), std::make_pair(0, 1));
}

TEST(LayerRange, RefusesMalformedRangesNamingTheFlag) {
  EXPECT_NE(error_of("5").find("--layers '5': expected A:B"), std::string::npos);
  EXPECT_NE(error_of(":3").find("'' is not a layer number"), std::string::npos);
  EXPECT_NE(error_of("a:3").find("'a' is not a layer number"), std::string::npos);
  EXPECT_NE(error_of("-1:3").find("'-1' is not a layer number"), std::string::npos);
  EXPECT_NE(error_of("1234567:").find("is not a layer number"), std::string::npos);
  EXPECT_NE(error_of("4:4").find("is empty (B must be greater than A)"), std::string::npos);
  EXPECT_NE(error_of("5:2").find("is empty"), std::string::npos);
  EXPECT_THROW((void)parse_layer_range("1:x", "--slice"), std::invalid_argument);
  EXPECT_NE(error_of("1:2:3").find("is not a layer number"), std::string::npos);
}

}  // namespace
}  // namespace veil::designs
