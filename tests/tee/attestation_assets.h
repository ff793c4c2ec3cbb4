// The genuine SEV-SNP reports, TDX quote and AMD/Intel certificates of
// ../shared/assets/attestation (README.md there), for the hardware verifier tests.
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "support/shared_assets.h"
#include "veil/tee/attestation.h"
#include "veil/util/check.h"

namespace veil::tee::testing {

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs `f` and returns the AttestationError's message, or "" when nothing was thrown.
template <typename F>
std::string refusal(F&& f) {
  try {
    f();
  } catch (const AttestationError& e) {
    return e.what();
  }
  return "";
}

// The values ../shared/assets/attestation/README.md states (and the TDX quote's MRTD).
inline constexpr const char* kVirteeMeasurement =
    "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f";
inline constexpr const char* kGoSevGuestMeasurement =
    "b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01";
inline constexpr const char* kTdxMrtd =
    "6363b8043668a3ad953278e10389574d326c6749fb78aa810ecd9336923db86f22fc00b8dcd404bc10d5e119d7215cbb";

}  // namespace veil::tee::testing

// Skips the test when ../shared/assets/attestation is absent; `var` is that folder.
#define VEIL_REQUIRE_ATTESTATION_ASSETS(var)                                                        \
  VEIL_REQUIRE_SHARED(var##_root);                                                                  \
  if (!std::filesystem::is_directory(var##_root / "attestation"))                                   \
    GTEST_SKIP() << "../shared/assets/attestation not found (genuine SEV-SNP/TDX evidence)";        \
  const std::filesystem::path var = var##_root / "attestation"
