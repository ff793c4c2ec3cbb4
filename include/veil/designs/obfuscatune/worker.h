// The worker half of obfuscatune: what an untrusted accelerator runs (`veil worker --design
// obfuscatune`). It holds only obfuscated weights W* = R_outᵀ·W·R_in⁻ᵀ and multiplies:
//
//   "obfuscatune.load"      layer, ints {proj}, tensor "w" [out, in] float32 → empty reply
//   "obfuscatune.forward"   layer, ints {projs...}, tensor "x" [N, in] → tensor "y" = x·[W*_i]ᵀ
//                           ([N, Σ out_i], the projections' outputs side by side)
//   "obfuscatune.backward"  layer, ints {projs...}, tensor "g" [N, Σ out_i] → tensor "gx" = g·[W*_i]
//
// Layers outside the worker's range and malformed messages are rejected (kInvalidArgument); a
// product with weights that were never loaded fails with kInternal naming them.
#pragma once

#include "veil/designs/registry.h"

namespace veil::designs::obfuscatune {

void install_worker(transport::Service& service, const WorkerContext& ctx);

}  // namespace veil::designs::obfuscatune
