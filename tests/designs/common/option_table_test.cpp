#include "veil/designs/common/option_table.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "veil/designs/common/layer_range.h"

namespace veil::designs::common {
namespace {

using S = OptionSpec;

OptionTable table() {
  return OptionTable("demo", {S::integer("bits", 8, 2, 16, "quantisation bits"),
                              S::real("clip", 1.0, 0.0, 10.0, "gradient clip"),
                              S::boolean("embed", true, "embedding on the worker"),
                              S::string("name", "x", "a label"),
                              S::enumeration("pipeline", "auto", {"auto", "on", "off"}, "micro-batches in flight"),
                              S::int_list("sizes", "4,8", 1, 64, "group sizes")});
}

std::string error_of(const std::map<std::string, std::string>& opts) {
  try {
    (void)table().parse(opts);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(OptionTable, DefaultsApplyWhenNothingIsGiven) {
  const auto p = table().parse({});
  EXPECT_EQ(p.integer("bits"), 8);
  EXPECT_DOUBLE_EQ(p.real("clip"), 1.0);
  EXPECT_TRUE(p.boolean("embed"));
  EXPECT_EQ(p.string("name"), "x");
  EXPECT_EQ(p.string("pipeline"), "auto");
  EXPECT_EQ(p.int_list("sizes"), (std::vector<std::int64_t>{4, 8}));
  EXPECT_FALSE(p.given("bits"));
}

TEST(OptionTable, EachTypeParsesItsValue) {
  const auto p = table().parse(
      {{"bits", "4"}, {"clip", "2.5"}, {"embed", "off"}, {"name", "y"}, {"pipeline", "on"}, {"sizes", "1,2,64"}});
  EXPECT_EQ(p.integer("bits"), 4);
  EXPECT_DOUBLE_EQ(p.real("clip"), 2.5);
  EXPECT_FALSE(p.boolean("embed"));
  EXPECT_EQ(p.string("name"), "y");
  EXPECT_EQ(p.string("pipeline"), "on");
  EXPECT_EQ(p.int_list("sizes"), (std::vector<std::int64_t>{1, 2, 64}));
  EXPECT_TRUE(p.given("bits"));
}

TEST(OptionTable, ErrorsNameDesignKeyProblemAndAcceptedValues) {
  EXPECT_EQ(error_of({{"bits", "17"}}), "design demo: option 'bits': '17' is out of range (accepted: 2..16)");
  EXPECT_EQ(error_of({{"bits", "4x"}}), "design demo: option 'bits': '4x' is not an integer (accepted: 2..16)");
  EXPECT_EQ(error_of({{"clip", "-1"}}), "design demo: option 'clip': '-1' is out of range (accepted: 0..10)");
  EXPECT_EQ(error_of({{"clip", "nan"}}), "design demo: option 'clip': 'nan' is not a number (accepted: 0..10)");
  EXPECT_EQ(error_of({{"embed", "maybe"}}), "design demo: option 'embed': 'maybe' is not on or off (accepted: on|off)");
  EXPECT_EQ(error_of({{"pipeline", "sometimes"}}),
            "design demo: option 'pipeline': 'sometimes' is not one of the choices (accepted: auto|on|off)");
  EXPECT_NE(error_of({{"sizes", "4,,8"}}).find("'' in '4,,8' is not an integer"), std::string::npos);
  EXPECT_NE(error_of({{"sizes", "4,65"}}).find("'65' in '4,65' is out of range"), std::string::npos);
}

TEST(OptionTable, UnknownKeysNameEveryAcceptedKey) {
  EXPECT_EQ(error_of({{"bitz", "4"}}),
            "design demo: option 'bitz': unknown key (accepted: bits, clip, embed, name, pipeline, sizes)");
}

TEST(OptionTable, BadTablesAreRefused) {
  EXPECT_THROW(OptionTable("d", {S::integer("a", 1, 0, 2, ""), S::integer("a", 1, 0, 2, "")}), std::invalid_argument);
  EXPECT_THROW(OptionTable("d", {S::integer("a", 5, 0, 2, "")}), std::invalid_argument);
  EXPECT_THROW(OptionTable("d", {S::enumeration("a", "z", {"x", "y"}, "")}), std::invalid_argument);
}

TEST(OptionTable, WrongTypeOrUnknownGetterThrows) {
  const auto p = table().parse({});
  EXPECT_THROW((void)p.real("bits"), std::invalid_argument);
  EXPECT_THROW((void)p.integer("nope"), std::invalid_argument);
}

TEST(OptionTable, HelpListsEveryOptionWithDefaults) {
  const std::string h = table().help();
  EXPECT_NE(h.find("  bits=<2..16>  quantisation bits (default: 8)\n"), std::string::npos) << h;
  EXPECT_NE(h.find("  pipeline=<auto|on|off>  micro-batches in flight (default: auto)\n"), std::string::npos) << h;
  EXPECT_NE(h.find("  embed=<on|off>  embedding on the worker (default: on)\n"), std::string::npos) << h;
}

TEST(LayerSlice, ResolvesTheEndAndChecksTheSlice) {
  EXPECT_EQ(layer_range(2, -1, 8, "w").last, 8);
  EXPECT_EQ(layer_range(0, 4, 8, "w").size(), 4);
  EXPECT_THROW((void)layer_range(4, 4, 8, "w"), std::invalid_argument);
  EXPECT_THROW((void)layer_range(-1, 4, 8, "w"), std::invalid_argument);
  try {
    (void)layer_range(2, 9, 8, "he-lora worker");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), "he-lora worker: layers [2, 9) is not a non-empty range within the model's 8 layers");
  }
}

}  // namespace
}  // namespace veil::designs::common
