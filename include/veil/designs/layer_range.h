// The layer range a worker serves, as written on the command line (`veil worker --layers A:B`):
// "A:B" is layers A..B-1, "A:" is A to the last layer, "" is every layer. Header-only: a parser
// with no dependencies, shared by the CLI and its tests.
#pragma once

#include <string>
#include <utility>

#include "veil/util/check.h"

namespace veil::designs {

// {first, last} with last == -1 for "to the last layer" (WorkerContext's convention). Throws
// std::invalid_argument naming `flag` for anything else: no ':', a part that is not a number of at
// most 6 digits, or B <= A.
[[nodiscard]] inline std::pair<int, int> parse_layer_range(const std::string& s, const char* flag = "--layers") {
  if (s.empty()) return {0, -1};
  const auto colon = s.find(':');
  VEIL_CHECK_ARG(colon != std::string::npos, flag, " '", s, "': expected A:B (layers A..B-1) or A:");
  auto num = [&](const std::string& part) {
    VEIL_CHECK_ARG(!part.empty() && part.size() <= 6 && part.find_first_not_of("0123456789") == std::string::npos,
                   flag, " '", s, "': '", part, "' is not a layer number");
    return std::stoi(part);
  };
  const int a = num(s.substr(0, colon));
  const std::string b = s.substr(colon + 1);
  if (b.empty()) return {a, -1};
  const int bb = num(b);
  VEIL_CHECK_ARG(bb > a, flag, " '", s, "' is empty (B must be greater than A)");
  return {a, bb};
}

}  // namespace veil::designs
