// The server half of `split` and `gradfree`: the middle blocks, run on what the client sends.
#pragma once

#include "veil/designs/registry.h"

namespace veil::designs::guarded {

// Installs split.open / split.forward / split.backward / split.step / split.get_lora /
// split.set_lora. With gradfree, the server has no backward or LoRA ops and refuses forwards that
// ask it to keep a graph.
void install_split_server(transport::Service& service, const WorkerContext& ctx, bool gradfree);

// Op names, shared by both halves.
inline constexpr const char* kOpOpen = "split.open";
inline constexpr const char* kOpForward = "split.forward";
inline constexpr const char* kOpBackward = "split.backward";
inline constexpr const char* kOpStep = "split.step";
inline constexpr const char* kOpGetLora = "split.get_lora";
inline constexpr const char* kOpSetLora = "split.set_lora";

}  // namespace veil::designs::guarded
