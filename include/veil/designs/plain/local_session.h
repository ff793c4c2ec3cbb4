// The local `plain` session: the model loaded here with a PlainExecutor and fresh LoRA adapters
// (cfg.lora, cfg.seed), nothing on the wire. `--design plain` without workers opens it; other
// designs and tests reuse it as the unprotected baseline.
#pragma once

#include <memory>

#include "veil/designs/cost.h"
#include "veil/train/design.h"
#include "veil/train/finetune.h"

namespace veil::model {
struct LoadedModel;
}

namespace veil::designs::plain {

// Throws std::invalid_argument when cfg.design_options is not empty (naming the first option).
[[nodiscard]] std::unique_ptr<train::DesignSession> open_local_session(const train::FinetuneConfig& cfg);

// The data owner's linear-layer FLOPs per training token when it computes blocks [first, last)
// itself: forward 2N + input gradients 2N over their N projection weights.
[[nodiscard]] double linear_flops_per_token(const model::LoadedModel& m, int first, int last);

}  // namespace veil::designs::plain
