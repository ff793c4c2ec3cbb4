#include "veil/eval/attacks/registry.h"

#include <algorithm>
#include <mutex>

#include "veil/eval/attacks/gradient_matching.h"
#include "veil/eval/attacks/inversion.h"
#include "veil/util/check.h"

namespace veil::eval {
namespace {

std::mutex& mu() {
  static std::mutex m;
  return m;
}

AttackResult nn(const AttackContext& c) { return {nn_inversion(c.public_model, c.view.hidden, c.view.layer)}; }

AttackResult learned(const AttackContext& c) {
  const auto* inv = c.inverter();
  if (!inv) return {{}, "no public text (--public-text)"};
  return {inv->invert(c.view.hidden), {}, {{"inverter_train_accuracy", inv->train_accuracy()}}};
}

AttackResult gradient(const AttackContext& c) {
  if (!c.view.gradient.defined()) return {{}, "the party saw no gradient"};
  GradientMatchingOptions o;
  o.steps = c.gradient_steps;
  o.seed = c.seed;
  return {gradient_matching(c.public_model, c.view, o)};
}

AttackResult bisr_attack(const AttackContext& c) {
  const auto* inv = c.inverter();
  if (!inv) return {{}, "no public text (--public-text)"};
  GradientMatchingOptions o;
  o.steps = std::max<std::int64_t>(1, c.gradient_steps / 3);
  o.discrete_sweeps = 1;  // the states pin each position given its prefix: one pass suffices
  o.seed = c.seed;
  return {bisr(c.public_model, c.view, *inv, o)};
}

std::vector<AttackSpec>& specs() {
  static std::vector<AttackSpec> s{
      {"nn", "nearest-neighbour inversion of the states through the public model", nn},
      {"learned", "an inverter trained on public text's states at the same layer", learned},
      {"gradient", "gradient matching: tokens whose loss gradient matches the one seen", gradient},
      {"bisr", "BiSR: the learned inversion refined by matching states and gradient", bisr_attack}};
  return s;
}

}  // namespace

void register_attack(AttackSpec spec) {
  VEIL_CHECK_ARG(!spec.name.empty() && spec.run, "an attack needs a name and a run function");
  std::lock_guard lock(mu());
  for (auto& s : specs())
    if (s.name == spec.name) {
      s = std::move(spec);
      return;
    }
  specs().push_back(std::move(spec));
}

std::vector<AttackSpec> attack_specs() {
  std::lock_guard lock(mu());
  return specs();
}

std::optional<AttackSpec> find_attack(const std::string& name) {
  std::lock_guard lock(mu());
  for (const auto& s : specs())
    if (s.name == name) return s;
  return std::nullopt;
}

}  // namespace veil::eval
