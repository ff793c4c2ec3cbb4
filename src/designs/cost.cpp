#include "veil/designs/cost.h"

#include "veil/util/check.h"

namespace veil::designs {
namespace {

nlohmann::json or_null(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); }

std::optional<double> read(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  VEIL_CHECK_ARG(j[key].is_number(), "design cost: '", key, "' must be a number or null");
  return j[key].get<double>();
}

}  // namespace

std::optional<double> DesignCost::bytes_per_token() const {
  if (!bytes_up_per_token || !bytes_down_per_token) return std::nullopt;
  return *bytes_up_per_token + *bytes_down_per_token;
}

nlohmann::json DesignCost::to_json() const {
  nlohmann::json memory = nlohmann::json::object();
  for (const auto& [party, bytes] : peak_memory_bytes) memory[party] = bytes;
  return {{"bytes_up_per_token", or_null(bytes_up_per_token)},
          {"bytes_down_per_token", or_null(bytes_down_per_token)},
          {"bytes_per_token", or_null(bytes_per_token())},
          {"round_trips_per_step", or_null(round_trips_per_step)},
          {"owner_parameter_share", or_null(owner_parameter_share)},
          {"enclave_parameter_share", or_null(enclave_parameter_share)},
          {"owner_flops_per_token", or_null(owner_flops_per_token)},
          {"peak_memory_bytes", memory}};
}

DesignCost DesignCost::from_json(const nlohmann::json& j) {
  DesignCost c;
  if (!j.is_object()) return c;
  c.bytes_up_per_token = read(j, "bytes_up_per_token");
  c.bytes_down_per_token = read(j, "bytes_down_per_token");
  c.round_trips_per_step = read(j, "round_trips_per_step");
  c.owner_parameter_share = read(j, "owner_parameter_share");
  c.enclave_parameter_share = read(j, "enclave_parameter_share");
  c.owner_flops_per_token = read(j, "owner_flops_per_token");
  if (j.contains("peak_memory_bytes") && j["peak_memory_bytes"].is_object())
    for (const auto& [party, v] : j["peak_memory_bytes"].items()) {
      VEIL_CHECK_ARG(v.is_number(), "design cost: peak_memory_bytes['", party, "'] must be a number");
      c.peak_memory_bytes[party] = v.get<double>();
    }
  return c;
}

}  // namespace veil::designs
