// Projection ids are wire ids (src/model/projection.cpp): fixed numbers, and a decoded id that
// names no projection is refused instead of cast.
#include <gtest/gtest.h>

#include "veil/model/projection.h"

namespace veil::model {
namespace {

TEST(ProjWireId, NumbersAreFixed) {
  const std::pair<Proj, int> fixed[] = {
      {Proj::kQ, 0},      {Proj::kK, 1},          {Proj::kV, 2},   {Proj::kO, 3},         {Proj::kGate, 4},    {Proj::kUp, 5},
      {Proj::kDown, 6},   {Proj::kCAttn, 7},      {Proj::kAttnCProj, 8}, {Proj::kCFc, 9}, {Proj::kMlpCProj, 10}, {Proj::kLmHead, 11},
  };
  for (const auto& [p, id] : fixed) {
    EXPECT_EQ(proj_wire_id(p), id) << proj_module_name(p);
    EXPECT_EQ(proj_from_wire(id), p) << id;
  }
}

TEST(ProjWireId, UnknownIdsAreRefusedByNumber) {
  for (std::int64_t bad : {-1, 12, 255, 256, 263}) {
    try {
      (void)proj_from_wire(bad);
      ADD_FAILURE() << "id " << bad << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("projection id " + std::to_string(bad)), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace veil::model
