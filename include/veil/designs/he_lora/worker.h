// The worker half of he-lora: holds the open base weights of its layers (pre-quantised per output
// channel as veil::he plans) and multiplies encrypted activations and gradients by them. It holds
// no key and never sees a plaintext activation, gradient, token, label or adapter weight.
//
// Operations (transport::Message). Every request carries blobs["session"], the data owner's
// kSessionIdBytes random session id: the worker keeps one state per session (parameters, CRS seed,
// plans), reference-counted, so that sessions of several data owners neither see nor disturb each
// other's plans, and a call in flight keeps its session alive.
//   he.setup       blobs {parameters, session}: the veil::he parameters the data owner chose, with the
//                  CRS seed it drew for the session; the worker checks they meet 128-bit security and
//                  the limits below. At most kMaxSessions sessions: a new one evicts the least
//                  recently used idle one, or is refused (all busy).
//   he.close       blobs {session}: drops the session.
//   he.plan_info   layer, ints {direction, layout, group...}: public masks of a group's plans
//                  (blobs p0, p1, ... one per inner chunk) and each plan's parameters (s0, s1, ...:
//                  the session's bit widths, precision and N, with t and Delta fitted to the plan's
//                  actual weights, docs/he.md §3.1; the data owner checks them before encrypting).
//   he.forward     layer, ints {group...}, blobs x0, x1, ...: encrypted inputs (one per inner chunk
//                  of the group's fused weight) -> blobs y0, y1, ... encrypted x·Wᵀ per chunk.
//   he.backward    the same with encrypted output gradients and W (the group's outputs
//                  concatenated; the sum over the group happens inside the product).
// A group is the list of projection ids sharing an input (q,k,v; gate,up; o; down; lm_head at
// layer num_layers) or {kEmbedGroup} at layer -1 (the token embedding, as an encrypted one-hot
// product). The embedding is a table lookup: one upload of the one-hot of (token mod C), C =
// min(N, vocab), times the table re-laid as [C, chunks * hidden]; every chunk is returned (ints of
// plan_info: {C}). The embedding belongs to the worker holding layer 0, the LM head to the one holding
// the last layer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "veil/model/loader.h"
#include "veil/transport/service.h"

namespace veil::designs::he_lora {

inline constexpr int kEmbedGroup = 1000;
inline constexpr std::size_t kSessionIdBytes = 16;
inline constexpr std::size_t kMaxSessions = 8;       // sessions held by one worker at once
inline constexpr std::size_t kMaxGroup = 3;          // projections per group (q, k, v)
inline constexpr std::uint32_t kMaxPolyDegree = 8192; // ring dimension a session may ask for
enum class Direction : int { kForward = 0, kBackward = 1 };

// Installs the handlers on `service` for layers [first_layer, last_layer) of `model` (its linear
// weights and token embedding; the worker keeps only what its range needs).
void install_worker(transport::Service& service, std::shared_ptr<const model::ModelFiles> model, int first_layer,
                    int last_layer);

}  // namespace veil::designs::he_lora
