// veil attest verify: check hardware attestation evidence (an AMD SEV-SNP report or an Intel TDX v4
// quote) offline, with the certificates it does not carry, at a chosen time (docs/tee.md).
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "command.h"
#include "veil/tee/attestation.h"
#include "veil/tee/evidence.h"
#include "veil/tee/timestamp.h"
#include "veil/util/check.h"

namespace veil::cli {
namespace {

struct AttestVerifyOptions {
  std::string evidence, certs, at, measurement, report_data;
  bool allow_debug = false;
};

std::string read_evidence(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  VEIL_CHECK_ARG(!ec, "--evidence ", path, ": ", ec ? ec.message() : "");
  VEIL_CHECK_ARG(size <= (1u << 20), "--evidence ", path, ": ", size, " bytes, more than any report or quote (1 MiB)");
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  VEIL_CHECK_ARG(in.good() || in.eof(), "--evidence ", path, ": cannot read");
  return s.str();
}

std::optional<std::string> hex_option(const std::string& flag, const std::string& hex, std::size_t bytes) {
  if (hex.empty()) return std::nullopt;
  VEIL_CHECK_ARG(hex.size() == 2 * bytes, flag, ": expected ", 2 * bytes, " hex digits (", bytes, " bytes), got ",
                 hex.size());
  try {
    return tee::from_hex(hex);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(util::cat(flag, ": ", e.what()));
  }
}

int run_verify(const AttestVerifyOptions& o) {
  tee::EvidenceExpectations expected;
  expected.measurement = hex_option("--expect-measurement", o.measurement, 48);
  expected.report_data = hex_option("--report-data", o.report_data, 64);
  expected.allow_debug = o.allow_debug;
  const std::time_t at = o.at.empty() ? std::time(nullptr) : tee::parse_timestamp(o.at);
  const std::string evidence = read_evidence(o.evidence);
  try {
    const auto certs = tee::load_certificates(o.certs);
    const auto result = tee::verify_evidence(evidence, certs, at, expected);
    std::printf("%s\n", result.dump(2).c_str());
    return 0;
  } catch (const tee::AttestationError& e) {
    // The evidence or certificates are bad input: one line, exit 2 (README.md, "Exit codes").
    throw std::invalid_argument(util::cat("attestation refused: ", e.what()));
  }
}

Action add_attest(CLI::App& app, const CommonOptions&) {
  auto* cmd = app.add_subcommand("attest", "check hardware attestation evidence (AMD SEV-SNP, Intel TDX)");
  cmd->require_subcommand(1);
  auto o = std::make_shared<AttestVerifyOptions>();
  auto* verify = cmd->add_subcommand(
      "verify",
      "verify an SEV-SNP report or TDX v4 quote (signatures, certificate chain to the pinned AMD/Intel root, at "
      "--at) and validate its fields; print one JSON object, or one line naming the cause and exit 2");
  verify->add_option("--evidence", o->evidence, "the report or quote (raw bytes; its type is read from them)")
      ->required();
  verify->add_option("--certs", o->certs,
                     "directory of certificates the evidence does not carry, recognised by content: SEV-SNP: the "
                     "VCEK (DER or PEM) and the ASK/ARK; TDX: the Intel SGX Root CA")
      ->required();
  verify->add_option("--at", o->at, "verification time, RFC 3339 (2025-06-01T12:00:00Z); default: now");
  verify->add_option("--expect-measurement", o->measurement,
                     "expected measurement, 96 hex digits (SEV-SNP MEASUREMENT, TDX MRTD)");
  verify->add_option("--report-data", o->report_data, "expected report_data, 128 hex digits");
  verify->add_flag("--allow-debug", o->allow_debug,
                   "accept a guest the host may debug (SNP policy bit 19, TD DEBUG): never in production");
  return [o] { return run_verify(*o); };
}

const CommandRegistrar kRegistrar{87, add_attest};

}  // namespace
}  // namespace veil::cli
