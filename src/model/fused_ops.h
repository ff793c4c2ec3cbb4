// Fused steps of the attention core that are not part of the public block API (blocks.h).
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace veil::model::detail {

// Causal softmax of scale·scores, scores [..., queries, keys] for the last `queries` positions of
// `keys` (query i sees keys 0 .. keys − queries + i); entries after a query's last key are 0.
// Differentiable; a fused kernel for contiguous float CPU scores, ATen ops otherwise.
[[nodiscard]] at::Tensor causal_softmax(const at::Tensor& scores, std::int64_t queries, double scale);

}  // namespace veil::model::detail
