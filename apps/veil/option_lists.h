// The two list-shaped option values every command reads the same way: `--opt key=value`
// (repeatable) and comma lists (`--workers a:1,b:2`, `--lora-targets q_proj,v_proj`).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace veil::cli {

// `--opt` values as a map. Throws std::invalid_argument naming `flag` for an item without '=' or
// with an empty key. A repeated key keeps the last value.
[[nodiscard]] std::map<std::string, std::string> parse_key_values(const std::vector<std::string>& items,
                                                                  std::string_view flag = "--opt");

// "a,b,c" -> {a, b, c}; "" -> {}. Throws std::invalid_argument naming `flag` for an empty item
// ("a,,b", "a,", ",a").
[[nodiscard]] std::vector<std::string> split_list(const std::string& list, std::string_view flag);

}  // namespace veil::cli
