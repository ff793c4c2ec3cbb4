// Optimisation attacks on what a split-learning server computes: the loss gradient with respect
// to the hidden states at its cut (DLG, Zhu et al. 2019; TAG, Deng et al. 2021, adapted to
// causal LMs whose labels are the shifted inputs), and BiSR (Chen et al. 2024): a learned
// inversion refined against both the observed states and the observed gradient.
//
// Tokens are relaxed to a softmax over the vocabulary per position, pushed through the public
// model (labels = the next position's distribution), and optimised with Adam so that the
// resulting per-position gradients (and states, for BiSR) match the observed ones; then a
// discrete pass tries each position's top candidates with hard tokens and keeps the best match.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

#include "veil/eval/observation.h"

namespace veil::model {
class CausalLM;
}

namespace veil::eval {

class LearnedInverter;

struct GradientMatchingOptions {
  std::int64_t steps = 300;        // Adam steps on the relaxed tokens
  double lr = 0.05;
  std::int64_t candidates = 32;    // per position in the discrete pass (0: no discrete pass)
  std::int64_t discrete_sweeps = 3;
  double state_weight = 0.0;       // weight of the hidden-state match (BiSR); 0 = gradients only
  double gradient_weight = 1.0;
  std::uint64_t seed = 0;
};

// Recovers ids [B, T] from view.gradient (required) and, with state_weight > 0, view.hidden.
// `init_logits` ([B, T, V], optional) starts the relaxation (BiSR: the learned inverter's).
// Throws std::invalid_argument when the view lacks what the options need.
[[nodiscard]] at::Tensor gradient_matching(model::CausalLM& public_model, const ActivationView& view,
                                           const GradientMatchingOptions& options = {},
                                           const at::Tensor& init_logits = {});

// BiSR: the learned inverter's log-probabilities as the start, states (weight 10 unless set) and
// gradients both matched; the discrete pass searches at least 32 of the relaxation's candidates per
// position plus the 8 tokens whose context-free states (public model) are nearest.
[[nodiscard]] at::Tensor bisr(model::CausalLM& public_model, const ActivationView& view, const LearnedInverter& inverter,
                              GradientMatchingOptions options = {});

}  // namespace veil::eval
