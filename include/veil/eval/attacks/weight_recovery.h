// Weight recovery by direction matching against a related public model (after ArrowMatch, "Game
// of Arrows", USENIX Security '25).
//
// Threat model: obfuscatune's worker holds W*_i = A_i·W_i·B for every block projection i of the
// proprietary model (A_i = R_outᵀ per projection, B = R_in⁻ᵀ shared by the projections of one
// input group: q/k/v, o, gate/up, down), knows the design and its variant (public), and holds a
// RELATED public model W⁰ — the base the proprietary model was fine-tuned from — not W itself.
// Per layer and group it fits the keys with the base in place of the victim
//   min Σ_i ‖A_i·W⁰_i·B − W*_i‖   (orthogonal A_i, B: alternating Procrustes, started from the
//                                   Gram eigenvectors of the group; general keys: least squares)
// and then matches directions: each row of W*_i·B̂⁻¹ (≈ A_i·W_i) against the rows of W⁰_i, and
// each column of Â_i⁻¹·W*_i (≈ W_i·B) against the columns of W⁰, by |cosine|. Where every row
// (column) has a mutual best match, the key on that side is a signed permutation and is snapped
// to it exactly — what a permutation/sign key (matched's MLP width) cannot survive. The recovered
// weights are Ŵ_i = Â_i⁻¹·W*_i·B̂⁻¹: the VICTIM's weights wherever the keys are right, whatever
// the base was. Where both sides are dense keys and neither snapped, the fit only returns the
// victim's singular values around the base's singular vectors (measured worse than the base), so
// the attacker keeps the public weights there. x = x*·B̂ᵀ undoes the input key on the keyed
// activations (data inversion) in every case.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "veil/model/config.h"
#include "veil/model/linear_executor.h"

namespace veil::eval {

struct WeightRecoveryOptions {
  std::string variant = "matched";  // paper | full | matched: which sides the design keys (public)
  bool orthogonal = true;           // fit orthogonal keys (Procrustes) or general ones (least squares)
  int iterations = 12;              // alternating refinements per group
  double match_cosine = 0.9;        // a direction matches when mutually best with |cos| >= this
};

struct GroupKeys {
  int layer = 0;
  std::vector<model::Proj> projs;
  at::Tensor input_key;                 // B̂ [in, in] (x = x*·B̂ᵀ); identity where not keyed
  std::vector<at::Tensor> output_keys;  // Â_i [out_i, out_i]
  std::int64_t rows = 0, rows_matched = 0;  // rows of W*_i·B̂⁻¹ mutually matched to a public row
  std::int64_t cols = 0, cols_matched = 0;  // columns of Â⁻¹·W* matched to a public column
  bool output_snapped = false, input_snapped = false;  // a side rounded to a signed permutation
  bool fell_back = false;  // both sides dense and neither snapped: Ŵ = the public weights
};

struct WeightRecovery {
  model::LinearWeights weights;  // Ŵ for every block projection (plaintext coordinates)
  std::vector<GroupKeys> groups;
  std::int64_t rows = 0, rows_matched = 0, cols = 0, cols_matched = 0;
  double seconds = 0;
  [[nodiscard]] double row_fraction() const { return rows ? double(rows_matched) / double(rows) : 0; }
  [[nodiscard]] double col_fraction() const { return cols ? double(cols_matched) / double(cols) : 0; }
  // The group whose first projection is `first` at `layer`; nullptr when absent.
  [[nodiscard]] const GroupKeys* group(int layer, model::Proj first) const;
};

// `obfuscated`: the worker's weights keyed "<layer>.<proj module name>" (Observation::weights);
// `base`: the related public model's linear weights. Throws std::invalid_argument for an unknown
// variant, a missing weight or mismatched shapes.
[[nodiscard]] WeightRecovery recover_weights(const model::ModelConfig& cfg, const model::LinearWeights& base,
                                             const std::map<std::string, at::Tensor>& obfuscated,
                                             const WeightRecoveryOptions& opts = {});

// Mutually best |cosine| matches between the rows of x and of y ([n, d] each): how many rows of x
// have a partner in y that is their best and whose best they are, with |cos| >= threshold; and,
// when that is all n, the signed permutation S with x ≈ S·y (else undefined).
struct DirectionMatch {
  std::int64_t matched = 0;
  at::Tensor signed_permutation;  // [n, n] float64
};
[[nodiscard]] DirectionMatch match_directions(const at::Tensor& x, const at::Tensor& y, double threshold);

// For Gram matrices G* ≈ T·G·Tᵀ with T an unknown signed permutation (the Gram of rows of A·W, or
// of columns of W·B, when that key is one): T, found by matching each index's sorted |row| of the
// Gram matrix (mutually nearest, all of them) and the signs by the leading eigenvector of
// G* ⊙ (Π·G·Πᵀ); one global sign stays free. Undefined when the match is not one-to-one.
[[nodiscard]] at::Tensor match_gram(const at::Tensor& g_obfuscated, const at::Tensor& g_public);

}  // namespace veil::eval
