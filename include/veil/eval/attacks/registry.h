// The attacks `veil evaluate --attacks` runs on a party's plaintext activation view, as registered
// values: code outside an attack's file never compares attack names. The built-in ones (nn,
// learned, gradient, bisr) are registered on first use; a test or a new file may add its own with
// register_attack().
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "veil/designs/observation.h"

namespace veil::model {
class CausalLM;
}

namespace veil::eval {

class LearnedInverter;

// What an attack gets: the public model, the first activation view the party saw, and the
// evaluation's budgets.
struct AttackContext {
  model::CausalLM& public_model;
  const designs::ActivationView& view;
  // A learned inverter for view.layer, trained on first call; nullptr without public text.
  std::function<const LearnedInverter*()> inverter;
  std::int64_t gradient_steps = 300;
  std::uint64_t seed = 0;
};

struct AttackResult {
  at::Tensor ids;        // [B, T] recovered token ids, scored against the truth; undefined: skipped
  std::string skipped;   // why it did not run (when ids is undefined)
  nlohmann::json extra = nlohmann::json::object();  // figures added to the scores
};

struct AttackSpec {
  std::string name, summary;
  std::function<AttackResult(const AttackContext& ctx)> run;
};

// Registers `spec`, replacing one of the same name. Throws std::invalid_argument for an empty name
// or no run function.
void register_attack(AttackSpec spec);
// Every registered attack, built-ins first, in registration order.
[[nodiscard]] std::vector<AttackSpec> attack_specs();
[[nodiscard]] std::optional<AttackSpec> find_attack(const std::string& name);

}  // namespace veil::eval
