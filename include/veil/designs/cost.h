// What a design's run cost, as one typed value every session reports (DesignSession::cost()).
// summary.json ("design_cost"), the evaluation matrix and the benches read only this; its JSON is
// produced here and nowhere else. An unknown figure is empty (JSON null), never guessed.
#pragma once

#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace veil::designs {

struct DesignCost {
  // Bytes on the wire per training token, from the data owner (or the enclave acting for it) to
  // the other parties (up) and back (down); weights loaded once are excluded.
  std::optional<double> bytes_up_per_token, bytes_down_per_token;
  // Request/response exchanges with other parties per optimizer step.
  std::optional<double> round_trips_per_step;
  // Shares of the base model's parameters held by the data owner and inside an enclave.
  std::optional<double> owner_parameter_share, enclave_parameter_share;
  // Linear-layer FLOPs the data owner computes per training token.
  std::optional<double> owner_flops_per_token;
  // Peak memory in bytes by party ("data_owner", "worker", "enclave", ...), where known.
  std::map<std::string, double> peak_memory_bytes;

  // bytes_up_per_token + bytes_down_per_token, when both are known.
  [[nodiscard]] std::optional<double> bytes_per_token() const;
  // Every field (null when unknown) and "bytes_per_token".
  [[nodiscard]] nlohmann::json to_json() const;
  // The inverse of to_json (summary.json read back). Throws std::invalid_argument for a field that
  // is neither a number nor null.
  [[nodiscard]] static DesignCost from_json(const nlohmann::json& j);
};

}  // namespace veil::designs
