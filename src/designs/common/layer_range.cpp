// The layer-slice check shared by the designs' workers.
#include "veil/designs/common/layer_range.h"

#include <stdexcept>

#include "veil/util/check.h"

namespace veil::designs::common {

LayerRange layer_range(int first, int last, int num_layers, std::string_view who) {
  const int end = last < 0 ? num_layers : last;
  VEIL_CHECK_ARG(first >= 0 && first < end && end <= num_layers, who, ": layers [", first, ", ", end,
                 ") is not a non-empty range within the model's ", num_layers, " layers");
  return {first, end};
}

}  // namespace veil::designs::common
