// One check of a worker's layer slice [first, last) against the model's layer count, shared by the
// designs' workers (issue #16 item 2).
#pragma once

#include <string_view>

namespace veil::designs::common {

struct LayerRange {
  int first = 0;
  int last = 0;  // exclusive
  [[nodiscard]] int size() const { return last - first; }
};

// Resolves `last` < 0 to `num_layers` (the model's end) and checks 0 <= first < last <= num_layers.
// Throws std::invalid_argument "WHO: layers [first, last) is not a non-empty range within the
// model's N layers" otherwise.
[[nodiscard]] LayerRange layer_range(int first, int last, int num_layers, std::string_view who);

}  // namespace veil::designs::common
