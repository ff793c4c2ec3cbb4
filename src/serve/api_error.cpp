#include "veil/serve/api_error.h"

#include <nlohmann/json.hpp>

namespace veil::serve {

nlohmann::json ApiError::to_json() const {
  auto opt = [](const std::string& s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s); };
  return {{"error", {{"message", what()}, {"type", type_}, {"param", opt(param_)}, {"code", opt(code_)}}}};
}

std::string ApiError::body() const { return to_json().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

}  // namespace veil::serve
