// Privacy accounting of the `split` / `gradfree` noise option, per training example.
//
// The unit is one example: one row of seq_len tokens. Attention is causal, so one token changes
// the activations of its own and every later position of the row: with each position's row
// clipped to L2 norm C (and rounded to the noise grid γ), replacing one example moves the
// [T, d] release by at most Δ₂ = 2C·√T + γ·√(T·d) in L2 and Δ₁ = T·(2C·√d + γ·d) in L1.
//
// - Discrete Gaussian σ: ρ = Δ₂²/(2σ²)-zCDP per release (Canonne, Kamath and Steinke 2020,
//   Theorem 14); n releases compose to n·ρ (zCDP adds up); converted to (ε, δ)-DP by
//   ε = inf_{α>1} αρ + (log(1/δ) + (α−1)·log(1−1/α) − log α)/(α−1) (ibid., Corollary 13).
// - Discrete Laplace b: ε = Δ₁/b-DP per release; n releases: n·ε (basic composition).
// No amplification by sampling is claimed (batches are shuffled, not Poisson-sampled).
#pragma once

#include <cstdint>

#include <nlohmann/json_fwd.hpp>

namespace veil::designs::guarded {

// ε of (ε, δ)-DP implied by ρ-zCDP (CKS 2020, Corollary 13; minimised over α numerically).
[[nodiscard]] double zcdp_epsilon(double rho, double delta);

}  // namespace veil::designs::guarded
