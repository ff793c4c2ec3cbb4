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
// output), and, when the party also saw one, a loss gradient: dL/d(input of block
// `gradient_layer`). In classic split learning the gradient is at the cut (gradient_layer ==
// layer); a U-shaped split server (`split`) receives the input of its first block and the gradient
// at its output, the input of the data owner's top block (gradient_layer = the end of its middle,
// possibly num_layers: the gradient at the final norm's input).
struct ActivationView {
  int layer = 0;
  at::Tensor hidden;        // [B, T, H]
  at::Tensor gradient;      // [B, T, H], or undefined
  int gradient_layer = -1;  // -1: the same as `layer`
  [[nodiscard]] int grad_layer() const { return gradient_layer < 0 ? layer : gradient_layer; }
};

// An input a worker received under a secret transform (obfuscatune: x·R_in for the projections of
// one layer that share an input), as rows [N, in].
struct KeyedInput {
  int layer = 0;
  std::vector<int> projections;  // model::Proj ids sharing this input
  at::Tensor x;                  // [N, in]
};

struct Observation {
  std::string design;
  std::string party;                          // "worker-0", "server", ...
  bool simulated = false;                     // built by simulate_split_view, not from a tap
  std::vector<ActivationView> activations;    // plaintext hidden states (and gradients)
  std::vector<KeyedInput> keyed_inputs;       // inputs under a secret transform (first of each kind)
  // Weights the party holds (possibly obfuscated): "<layer>.<name>"; obfuscatune's are
  // "<layer>.<proj module name>" (e.g. "0.q_proj").
  std::map<std::string, at::Tensor> weights;
  std::map<std::string, std::string> notes;   // what the reader inferred (cut layers, mixing, ...)
  std::vector<std::string> opaque_blobs;      // bytes it cannot read (ciphertexts, sealed data)
  std::uint64_t bytes_received = 0, bytes_sent = 0;
  [[nodiscard]] bool has_plaintext() const { return !activations.empty() || !weights.empty(); }
};

// Reads an audit tap's entries for `party` (all parties when empty). The ops of the designs are
// read by what they carry (docs/evaluation.md, "How each view is obtained"):
//   split.open / split.forward / split.backward (`split`, `gradfree`): the middle [k, end) from
//     open's ints; the training forwards' "h" (or quantized "q"/"q4" + "scale") are the states at
//     block k, the backward's "g" the gradient at block `end`, paired by micro-batch id; only the
//     first optimizer step (messages before the first split.step) is kept;
//   obfuscatune.load / obfuscatune.forward: weights "<layer>.<proj>", keyed inputs per layer and
//     projection group (the first of each);
//   anything else: a received floating tensor [.., T, hidden] is an activation of the message's
//     layer, named "grad*" a gradient; tensors named "weight*" / "w*" of rank 2 are weights
//     (keyed "<layer>.<name>"); blobs are opaque.
[[nodiscard]] Observation observation_from_tap(const std::vector<transport::TapEntry>& entries, std::int64_t hidden,
                                               const std::string& design, const std::string& party = "");

// The view of a server in unprotected split learning with the cut before block `cut`
// (0 <= cut < num_layers): it receives the data owner's hidden states h = input of block `cut`
// and the loss gradient at block `gradient_layer` (-1: at the cut, classic split learning; a
// U-shaped server gets it at the end of its middle, <= num_layers), with labels as given
// (input_ids shifted, as in training; -100 ignored) and the loss their mean.
// `model` is the model being trained (its adapters included); nothing is updated.
[[nodiscard]] Observation simulate_split_view(model::CausalLM& model, const at::Tensor& input_ids,
                                              const at::Tensor& labels, int cut, const std::string& design,
                                              int gradient_layer = -1);

// Hidden states at the input of block `cut` for ids [B, T] (no gradient), by the public steps.
[[nodiscard]] at::Tensor hidden_at(model::CausalLM& model, const at::Tensor& ids, int cut);

}  // namespace veil::eval
