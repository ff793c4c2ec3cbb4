// report_data_binding (what an enclave puts in a hardware report) and the RFC 3339 times the
// verifiers take.
#include <gtest/gtest.h>

#include "veil/tee/attestation.h"
#include "veil/tee/report_data.h"
#include "veil/tee/timestamp.h"

namespace veil::tee {
namespace {

TEST(ReportDataBinding, BindsKeyAndNonceInjectively) {
  const std::string key(32, '\x11'), nonce(32, '\x22');
  const std::string b = report_data_binding(key, nonce);
  EXPECT_EQ(b.size(), 64u);
  EXPECT_EQ(b, report_data_binding(key, nonce));
  EXPECT_NE(b, report_data_binding(std::string(32, '\x12'), nonce));  // another enclave key
  EXPECT_NE(b, report_data_binding(key, std::string(32, '\x23')));    // another session's nonce
  // Moving bytes between key and nonce changes the binding (lengths are encoded).
  EXPECT_NE(report_data_binding("ab", "c"), report_data_binding("a", "bc"));
  // Not the bare hash of key || nonce that a verifier of another protocol might accept.
  EXPECT_NE(b.substr(0, 32), sha256(key + nonce));
  EXPECT_THROW((void)report_data_binding("", nonce), std::invalid_argument);
}

TEST(Timestamp, ParsesRfc3339AndRefusesAmbiguousTimes) {
  EXPECT_EQ(parse_timestamp("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_timestamp("2025-01-01T00:00:00Z"), 1735689600);
  EXPECT_EQ(parse_timestamp("2025-01-01t02:00:00.123+02:00"), 1735689600);
  EXPECT_EQ(parse_timestamp("2024-12-31 19:00:00-05:00"), 1735689600);
  EXPECT_EQ(parse_timestamp("2025-01-01"), 1735689600);
  EXPECT_EQ(format_timestamp(1735689600), "2025-01-01T00:00:00Z");
  for (const char* bad : {"", "2025-01-01T00:00:00", "2025-13-01T00:00:00Z", "2025-02-30", "2025-01-01T24:00:00Z",
                          "2025-1-01", "2025-01-01T00:00:00Zjunk", "yesterday", "2025-01-01T00:00:00+2:00"})
    EXPECT_THROW((void)parse_timestamp(bad), std::invalid_argument) << bad;
}

}  // namespace
}  // namespace veil::tee
