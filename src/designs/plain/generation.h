// `veil generate` / `veil serve` with plain (the default): the model in this process, loaded once
// and shared by the adapters' generators (each sets its adapter before generating).
#pragma once

#include "veil/designs/generation.h"

namespace veil::designs::plain {

// Throws std::invalid_argument when options or workers are given (plain generates locally).
[[nodiscard]] GenerationModels open_generation(const GenerationRequest& request);

}  // namespace veil::designs::plain
