// How `split` and `gradfree` servers' audit taps read (DesignSpec::observe, veil/designs/spec.h).
#pragma once

#include <cstdint>
#include <vector>

#include "veil/designs/observation.h"
#include "veil/transport/audit_tap.h"

namespace veil::designs::guarded {

// split.open / split.forward / split.backward: the middle [k, end) from open's ints; the training
// forwards' "h" (or quantized "q"/"q4" + "scale") are the states at block k, the backward's "g"
// the gradient at block `end`, paired by micro-batch id; only the first optimizer step (messages
// before the first split.step) is kept; open's rank-2 floating tensors are weights (mixing). A
// tap without split ops is read by eval's generic reader.
[[nodiscard]] Observation observe_split(const std::vector<transport::TapEntry>& entries, std::int64_t hidden);

}  // namespace veil::designs::guarded
