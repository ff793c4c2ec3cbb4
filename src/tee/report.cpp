// The attestation report's JSON form (the measurement is in measurement.cpp).
#include <nlohmann/json.hpp>

#include <fstream>

#include "veil/tee/attestation.h"
#include "veil/util/check.h"

namespace veil::tee {
namespace {

constexpr const char* kFormat = "veil-attestation-v1";

nlohmann::json body_json(const AttestationReport& r) {
  nlohmann::json config = nlohmann::json::parse(r.config_json.empty() ? "{}" : r.config_json);
  return {{"format", kFormat},
          {"kind", r.kind},
          {"simulated", r.simulated},
          {"measurement", r.measurement},
          {"enclave_key", to_hex(r.enclave_key)},
          {"nonce", to_hex(r.nonce)},
          {"session", to_hex(r.session)},
          {"model_hash", to_hex(r.model_hash)},
          {"report_data", to_hex(r.report_data)},
          {"config", config},
          {"signer_key", to_hex(r.signer_key)}};
}

std::string field(const nlohmann::json& j, const char* name) {
  if (!j.contains(name) || !j.at(name).is_string())
    throw AttestationError(util::cat("attestation report: field '", name, "' is missing or not a string"));
  return j.at(name).get<std::string>();
}

std::string hex_field(const nlohmann::json& j, const char* name) {
  try {
    return from_hex(field(j, name));
  } catch (const std::invalid_argument& e) {
    throw AttestationError(util::cat("attestation report: field '", name, "': ", e.what()));
  }
}

}  // namespace

std::string AttestationReport::body() const { return body_json(*this).dump(); }

std::string AttestationReport::to_json() const {
  auto j = body_json(*this);
  j["signature"] = to_hex(signature);
  return j.dump();
}

std::string AttestationReport::hash() const { return sha256(to_json()); }

AttestationReport AttestationReport::from_json(const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw AttestationError(util::cat("attestation report is not JSON: ", e.what()));
  }
  if (!j.is_object()) throw AttestationError("attestation report is not a JSON object");
  if (field(j, "format") != kFormat)
    throw AttestationError(util::cat("attestation report: unknown format '", field(j, "format"), "' (expected ", kFormat, ")"));
  AttestationReport r;
  r.kind = field(j, "kind");
  if (!j.contains("simulated") || !j.at("simulated").is_boolean())
    throw AttestationError("attestation report: field 'simulated' is missing or not a boolean");
  r.simulated = j.at("simulated").get<bool>();
  r.measurement = field(j, "measurement");
  r.enclave_key = hex_field(j, "enclave_key");
  r.nonce = hex_field(j, "nonce");
  r.session = hex_field(j, "session");
  r.model_hash = hex_field(j, "model_hash");
  r.report_data = hex_field(j, "report_data");
  if (!r.model_hash.empty() && r.model_hash.size() != 32)
    throw AttestationError("attestation report: field 'model_hash' is neither empty nor a SHA-256");
  if (!j.contains("config") || !j.at("config").is_object())
    throw AttestationError("attestation report: field 'config' is missing or not an object");
  r.config_json = j.at("config").dump();
  r.signer_key = hex_field(j, "signer_key");
  r.signature = hex_field(j, "signature");
  return r;
}

std::string report_data_for(const std::string& enclave_key, const std::string& nonce, const std::string& model_hash,
                            const std::string& session) {
  std::string input = "veil-report-data-v1";
  input.push_back('\0');
  input += enclave_key;
  input += nonce;
  for (int i = 3; i >= 0; --i) input.push_back(static_cast<char>((model_hash.size() >> (8 * i)) & 0xff));
  input += model_hash;
  input += session;
  return sha256(input);
}


}  // namespace veil::tee
