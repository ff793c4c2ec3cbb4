// How an obfuscatune worker's audit tap reads (DesignSpec::observe, veil/designs/spec.h).
#pragma once

#include <cstdint>
#include <vector>

#include "veil/designs/observation.h"
#include "veil/transport/audit_tap.h"

namespace veil::designs::obfuscatune {

// obfuscatune.load: the obfuscated weights, keyed "<layer>.<proj module name>";
// obfuscatune.forward: the keyed inputs x·R per layer and projection group (the first of each).
// A tap without obfuscatune ops is read by eval's generic reader.
[[nodiscard]] Observation observe(const std::vector<transport::TapEntry>& entries, std::int64_t hidden);

}  // namespace veil::designs::obfuscatune
