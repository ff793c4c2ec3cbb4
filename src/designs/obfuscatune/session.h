// obfuscatune's train::DesignSession (registered as "obfuscatune").
#pragma once

#include <memory>

#include "veil/train/design.h"

namespace veil::designs::obfuscatune {

[[nodiscard]] std::unique_ptr<train::DesignSession> open_session(const train::FinetuneConfig& cfg);

}  // namespace veil::designs::obfuscatune
