#include "designs/he_lora/plan_weights.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <string>

#include "designs/he_lora/chunks.h"
#include "veil/designs/he_lora/worker.h"
#include "veil/model/projection.h"
#include "veil/transport/errors.h"

namespace veil::designs::he_lora {
namespace {

using transport::ProtocolError;

std::vector<std::int32_t> ids(std::span<const model::Proj> projs) {
  std::vector<std::int32_t> g;
  for (auto p : projs) g.push_back(static_cast<std::int32_t>(p));
  return g;
}

}  // namespace

std::vector<GroupKey> all_groups(const model::ModelConfig& cfg) {
  std::vector<GroupKey> out;
  const int L = static_cast<int>(cfg.num_layers);
  out.push_back({-1, {kEmbedGroup}});
  const auto bp = model::block_projections(cfg.family);
  for (int l = 0; l < L; ++l)
    for (auto g : {bp.attn_in, bp.attn_out, bp.mlp_in, bp.mlp_out}) out.push_back({l, ids(g)});
  out.push_back({L, {static_cast<std::int32_t>(model::Proj::kLmHead)}});
  return out;
}

std::vector<PlanWeights> plan_weights(const model::ModelFiles& model, int layer, const std::vector<std::int32_t>& group,
                                      int direction, std::int64_t poly_degree, std::int64_t max_inner) {
  const auto& cfg = model.config;
  if (direction != 0 && direction != 1) throw ProtocolError("he: bad direction " + std::to_string(direction));
  // Only the model's own groups: a peer cannot make the worker fuse arbitrary lists of weights.
  bool known = false;
  for (const auto& k : all_groups(cfg))
    if (k.layer == layer && k.group == group) known = true;
  if (!known) throw ProtocolError("he: layer " + std::to_string(layer) + " has no such projection group");
  if (layer == -1) {
    // The embedding as a table lookup (docs/designs/he-lora.md §1): with C = min(N, vocab), the table
    // E [vocab, d] is re-laid as W' [C, chunks * d], W'[j][t d + c] = E[t C + j][c].
    if (direction != 0) throw ProtocolError("he: the embedding has no backward product");
    const at::Tensor e = model.weights.params.tok_emb.to(at::kFloat);
    const std::int64_t v = e.size(0), d = e.size(1);
    const std::int64_t c = std::min<std::int64_t>(poly_degree, v), chunks = (v + c - 1) / c;
    at::Tensor padded = at::zeros({chunks * c, d}, at::kFloat);
    padded.narrow(0, 0, v).copy_(e);
    PlanWeights p;
    p.data = padded.view({chunks, c, d}).permute({1, 0, 2}).reshape({c, chunks * d}).contiguous();
    p.inner = c;
    p.lookup = true;
    return {p};
  }
  std::vector<at::Tensor> parts;
  for (std::int32_t id : group) {
    if (id < 0 || id > model::proj_wire_id(model::Proj::kLmHead))
      throw ProtocolError("he: unknown projection id " + std::to_string(id));
    auto it = model.weights.linear.find({layer, model::proj_from_wire(id)});
    if (it == model.weights.linear.end())
      throw ProtocolError("he: no weight for projection " + std::to_string(id) + " at layer " + std::to_string(layer));
    parts.push_back(it->second);
  }
  const at::Tensor w = (parts.size() == 1 ? parts[0] : at::cat(parts, 0)).to(at::kFloat);
  std::vector<PlanWeights> out;
  const std::int64_t inner = direction == 0 ? w.size(1) : w.size(0);
  std::int64_t at0 = 0;
  for (std::int64_t k : inner_chunks(inner, max_inner)) {
    // Forward: x[:, chunk] · (W[:, chunk])ᵀ. Backward: g[:, chunk] · W[chunk, :] (transposed plan).
    PlanWeights p;
    p.data = (direction == 0 ? w.narrow(1, at0, k) : w.narrow(0, at0, k)).t().contiguous();
    p.transpose = direction == 1;
    p.inner = k;
    out.push_back(std::move(p));
    at0 += k;
  }
  return out;
}

}  // namespace veil::designs::he_lora
