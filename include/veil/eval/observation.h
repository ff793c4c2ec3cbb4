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

#include "veil/designs/observation.h"
#include "veil/transport/audit_tap.h"

namespace veil::model {
class CausalLM;
}

namespace veil::eval {

// The types are the design contract's (veil/designs/observation.h).
using designs::ActivationView;
using designs::KeyedInput;
using designs::Observation;

// Reads an audit tap's entries for `party` (all parties when empty): the byte counts and the
// received blobs (opaque) here, the tensors by the registered design's observe()
// (DesignSpec::observe: each design decodes its own ops, docs/evaluation.md "How each view is
// obtained"), or by read_tap_tensors when `design` is not registered or has no reader.
[[nodiscard]] Observation observation_from_tap(const std::vector<transport::TapEntry>& entries, std::int64_t hidden,
                                               const std::string& design, const std::string& party = "");

// The generic reader: a received floating tensor [.., T, hidden] is an activation of the
// message's layer, named "grad*" a gradient; tensors named "weight*" / "w*" of rank 2 are weights
// (keyed "<layer>.<name>"). Fills activations and weights only.
[[nodiscard]] Observation read_tap_tensors(const std::vector<transport::TapEntry>& entries, std::int64_t hidden);

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
