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
  bool relax_only = false;         // gradient_matching: never use label_matching
};

// Label matching, the attack of a party that saw the states h (input of block view.layer) AND the
// gradient g at block j = view.grad_layer() (j >= layer). With the public weights it runs h
// through blocks [layer, j) to h_j and the rest of the model to the logits z. The loss
// L = (1/N)·Σ_t [lse(z_t) − z_t[y_t]] makes g linear in the one-hot labels Y:
//   N·g = Φ(P·W) − Φ(Y·W),  P = softmax(z), W the LM head [V, H], Φ the vector-Jacobian product
// of the final normed states with respect to h_j. Causality makes Φ triangular: row s of Φ(Y·W)
// is K_sᵀ·w_{y_s} (K_s = ∂n_s/∂h_j,s, an H×H Jacobian) plus terms of the labels after s. So the
// labels are decoded exactly from the last position back: at each s the label whose column
// K_sᵀ·w_v is nearest to the residual. N starts at the number of labelled positions (B·T, or
// B·(T−1) when the last row of g is zero: its label was ignored) and is refitted by least squares
// once. Labels are the next tokens (ids[t+1] = y[t]); ids[0] is the nearest context-free state.
// Cost: 2·T backward passes of the top of the model (batches of B·H and B sequences).
// Returns ids [B, T]. Throws std::invalid_argument when the view lacks states or gradient.
[[nodiscard]] at::Tensor label_matching(model::CausalLM& public_model, const ActivationView& view);

// Recovers ids [B, T] from view.gradient (required) and, with state_weight > 0, view.hidden:
// label_matching when the view holds states and gradient and `relax_only` is false (the
// relaxation needs no states: the fallback when inputs and labels are both unknown).
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
