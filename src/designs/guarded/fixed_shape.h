// The rule that keeps labels out of what the split server sees: every micro-batch the server
// computes on has one fixed shape for the run, whatever its labels; padding rows and positions
// carry no label, so they change no loss or gradient of the client's.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "veil/train/trainer.h"

namespace veil::designs::guarded {

struct FixedShape {
  std::int64_t rows = 1, cols = 1;  // grows to the largest micro-batch seen, never shrinks
  // Pads `mb` to [rows, cols] (ids 0, labels -100) after growing the shape to fit it.
  [[nodiscard]] train::MicroBatch pad(const train::MicroBatch& mb);
  [[nodiscard]] std::vector<train::MicroBatch> pad(std::span<const train::MicroBatch> micro);
};

}  // namespace veil::designs::guarded
