// The float weights of a he-lora plan, as the worker packs them and the data owner checks them:
// for (layer, group, direction) one matrix per inner chunk, laid out as HeMatmulServer::add_weights
// takes it. Worker (worker.cpp) and data owner (executor.cpp, the Freivalds checks of docs/designs/
// he-lora.md "Malicious worker") both call this, so they agree on every quantised weight.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "veil/model/loader.h"

namespace veil::designs::he_lora {

struct PlanWeights {
  at::Tensor data;           // [rows, cols] float, contiguous
  bool transpose = false;    // the plan multiplies by dataᵀ (backward)
  std::int64_t inner = 0;    // the chunk's inner dimension
  bool lookup = false;       // the embedding table lookup (one-hot inputs, exact parameters)
};

// The group's plans for `layer` (-1: the embedding {kEmbedGroup}; num_layers: the LM head) in
// `direction` (0 forward, 1 backward). Throws transport::ProtocolError for a group or layer the
// model does not have (a peer's request), naming it. Only the model's own groups are accepted.
[[nodiscard]] std::vector<PlanWeights> plan_weights(const model::ModelFiles& model, int layer,
                                                    const std::vector<std::int32_t>& group, int direction,
                                                    std::int64_t poly_degree, std::int64_t max_inner);

// Every (layer, group) the data owner may ask a worker for (the groups of each block, the LM head,
// the embedding), in the order the protocol uses them.
struct GroupKey {
  int layer;
  std::vector<std::int32_t> group;
};
[[nodiscard]] std::vector<GroupKey> all_groups(const model::ModelConfig& cfg);

}  // namespace veil::designs::he_lora
