// What the untrusted party of a design saw during a run, in the form the attacks consume. It is
// part of a design's contract (DesignSpec::observe, veil/designs/spec.h): each design reads its own
// audit tap into one, so the evaluation (veil/eval/observation.h) never decodes a design's ops.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace veil::designs {

// Hidden states in the clear: the input of block `layer` ([B, T, hidden]; layer 0 = the embedding
// output), and, when the party also saw one, a loss gradient: dL/d(input of block
// `gradient_layer`). In classic split learning the gradient is at the cut (gradient_layer ==
// layer); a U-shaped split server receives the input of its first block and the gradient at its
// output, the input of the data owner's top block (gradient_layer = the end of its middle,
// possibly num_layers: the gradient at the final norm's input).
struct ActivationView {
  int layer = 0;
  at::Tensor hidden;        // [B, T, H]
  at::Tensor gradient;      // [B, T, H], or undefined
  int gradient_layer = -1;  // -1: the same as `layer`
  [[nodiscard]] int grad_layer() const { return gradient_layer < 0 ? layer : gradient_layer; }
};

// An input a worker received under a secret transform (e.g. x·R_in for the projections of one
// layer that share an input), as rows [N, in].
struct KeyedInput {
  int layer = 0;
  std::vector<int> projections;  // model::Proj ids sharing this input
  at::Tensor x;                  // [N, in]
};

struct Observation {
  std::string design;
  std::string party;                          // "worker-0", "server", ...
  bool simulated = false;                     // built by eval::simulate_split_view, not from a tap
  std::vector<ActivationView> activations;    // plaintext hidden states (and gradients)
  std::vector<KeyedInput> keyed_inputs;       // inputs under a secret transform (first of each kind)
  // Weights the party holds (possibly obfuscated): "<layer>.<name>"; projections' are
  // "<layer>.<proj module name>" (e.g. "0.q_proj").
  std::map<std::string, at::Tensor> weights;
  std::map<std::string, std::string> notes;   // what the reader inferred (cut layers, mixing, ...)
  std::vector<std::string> opaque_blobs;      // bytes it cannot read (ciphertexts, sealed data)
  std::uint64_t bytes_received = 0, bytes_sent = 0;
  [[nodiscard]] bool has_plaintext() const { return !activations.empty() || !weights.empty(); }
};

}  // namespace veil::designs
