// How he-lora splits an inner dimension longer than the parameters cover (a large vocabulary):
// into near-equal contiguous chunks. Data owner and worker must agree, so both call this.
#pragma once

#include <cstdint>
#include <vector>

namespace veil::designs::he_lora {

[[nodiscard]] inline std::vector<std::int64_t> inner_chunks(std::int64_t k, std::int64_t max_chunk) {
  const std::int64_t n = (k + max_chunk - 1) / max_chunk;
  std::vector<std::int64_t> sizes(static_cast<std::size_t>(n), k / n);
  for (std::int64_t i = 0; i < k % n; ++i) ++sizes[static_cast<std::size_t>(i)];
  return sizes;
}

}  // namespace veil::designs::he_lora
