// What the untrusted party of a design saw during a run, in the form the attacks consume.
//
// Built either from the party's audit tap (every Message it received and sent, see
// veil/transport/audit_tap.h) or, for a design whose party did not record one, by simulating the
// view: running the public steps of the model on the private batch and keeping what would cross
// the wire at a cut. A simulated observation says so (`simulated`), and the report prints it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "veil/transport/audit_tap.h"

namespace veil::model {
class CausalLM;
}

namespace veil::eval {

// Hidden states in the clear: the input of block `layer` ([B, T, hidden]; layer 0 = the embedding
// output), and, when the party also saw it, the loss gradient with respect to them.
struct ActivationView {
  int layer = 0;
  at::Tensor hidden;    // [B, T, H]
  at::Tensor gradient;  // [B, T, H] dL/dhidden, or undefined
};

struct Observation {
  std::string design;
  std::string party;                          // "worker-0", "server", ...
  bool simulated = false;                     // built by simulate_split_view, not from a tap
  std::vector<ActivationView> activations;    // plaintext hidden states (and gradients)
  std::map<std::string, at::Tensor> weights;  // weights the party holds (possibly obfuscated)
  std::vector<std::string> opaque_blobs;      // bytes it cannot read (ciphertexts, sealed data)
  std::uint64_t bytes_received = 0, bytes_sent = 0;
  [[nodiscard]] bool has_plaintext() const { return !activations.empty() || !weights.empty(); }
};

// Reads an audit tap's entries for `party` (all parties when empty). Conventions the designs
// follow: a received floating tensor [.., T, hidden] is an activation of the message's layer,
// named "grad*" a gradient; tensors named "weight*" / "w*" of rank 2 are weights (keyed
// "<layer>.<name>"); blobs are opaque.
[[nodiscard]] Observation observation_from_tap(const std::vector<transport::TapEntry>& entries, std::int64_t hidden,
                                               const std::string& design, const std::string& party = "");

// The view of a server in unprotected split learning with the cut before block `cut`
// (0 <= cut < num_layers): it receives the data owner's hidden states h = input of block `cut`
// and computes the loss gradient dL/dh (labels = input_ids shifted, as in training; -100 ignored).
// `model` is the model being trained (its adapters included); nothing is updated.
[[nodiscard]] Observation simulate_split_view(model::CausalLM& model, const at::Tensor& input_ids,
                                              const at::Tensor& labels, int cut, const std::string& design);

// Hidden states at the input of block `cut` for ids [B, T] (no gradient), by the public steps.
[[nodiscard]] at::Tensor hidden_at(model::CausalLM& model, const at::Tensor& ids, int cut);

}  // namespace veil::eval
