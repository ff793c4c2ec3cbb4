#include "designs/guarded/fixed_shape.h"

#include <ATen/ATen.h>

#include "veil/util/check.h"

namespace veil::designs::guarded {

train::MicroBatch FixedShape::pad(const train::MicroBatch& mb) {
  VEIL_CHECK_ARG(mb.input_ids.dim() == 2 && mb.labels.sizes() == mb.input_ids.sizes(),
                 "split: a micro-batch must be [B, T] ids with labels of the same shape");
  rows = std::max(rows, mb.input_ids.size(0));
  cols = std::max(cols, mb.input_ids.size(1));
  if (mb.input_ids.size(0) == rows && mb.input_ids.size(1) == cols) return mb;
  auto ids = at::zeros({rows, cols}, mb.input_ids.options());
  auto labels = at::full({rows, cols}, -100, mb.labels.options());
  const auto b = mb.input_ids.size(0), t = mb.input_ids.size(1);
  ids.narrow(0, 0, b).narrow(1, 0, t).copy_(mb.input_ids);
  labels.narrow(0, 0, b).narrow(1, 0, t).copy_(mb.labels);
  return {ids, labels};
}

std::vector<train::MicroBatch> FixedShape::pad(std::span<const train::MicroBatch> micro) {
  std::vector<train::MicroBatch> out;
  for (const auto& mb : micro) out.push_back(pad(mb));
  return out;
}

}  // namespace veil::designs::guarded
