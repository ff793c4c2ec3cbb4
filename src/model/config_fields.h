// Reading config.json fields with one error style (std::invalid_argument naming the field).
// Internal to config.cpp and the family files.
#pragma once

#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "veil/util/check.h"

namespace veil::model::detail {

template <typename T>
T get_or(const nlohmann::json& j, const char* key, T fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(util::cat("config.json: field '", key, "' has the wrong type: ", e.what()));
  }
}

template <typename T>
T require(const nlohmann::json& j, const char* key) {
  VEIL_CHECK_ARG(j.contains(key) && !j.at(key).is_null(), "config.json: missing field '", key, "'");
  return get_or<T>(j, key, T{});
}

// An integer or a list of integers (bos_token_id, eos_token_id); empty when absent.
inline std::vector<std::int64_t> token_ids(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  if (it->is_array()) {
    std::vector<std::int64_t> ids;
    for (const auto& v : *it) {
      VEIL_CHECK_ARG(v.is_number_integer(), "config.json: '", key, "' must hold integers");
      ids.push_back(v.get<std::int64_t>());
    }
    return ids;
  }
  VEIL_CHECK_ARG(it->is_number_integer(), "config.json: '", key, "' must be an integer or a list of integers");
  return {it->get<std::int64_t>()};
}

}  // namespace veil::model::detail
