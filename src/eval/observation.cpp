#include "veil/eval/observation.h"

#include <ATen/ATen.h>
#include <torch/torch.h>

#include "veil/model/causal_lm.h"
#include "veil/designs/spec.h"
#include "veil/util/check.h"

namespace veil::eval {

Observation read_tap_tensors(const std::vector<transport::TapEntry>& entries, std::int64_t hidden) {
  Observation o;
  std::map<int, ActivationView> by_layer;
  for (const auto& e : entries) {
    const auto& m = e.message;
    for (const auto& [name, t] : m.tensors) {
      if (!t.defined() || !at::isFloatingType(t.scalar_type())) continue;
      const bool is_weight = t.dim() == 2 && (name.rfind("weight", 0) == 0 || name.rfind("w", 0) == 0);
      if (is_weight) {
        o.weights[std::to_string(m.layer) + "." + name] = t.to(at::kFloat);
        continue;
      }
      if (e.direction != transport::Direction::kReceived || t.dim() < 2 || t.size(-1) != hidden) continue;
      auto v = t.to(at::kFloat).reshape({-1, t.size(-2), hidden});
      auto& view = by_layer[std::max(0, static_cast<int>(m.layer))];
      view.layer = std::max(0, static_cast<int>(m.layer));
      auto& slot = name.rfind("grad", 0) == 0 ? view.gradient : view.hidden;
      slot = slot.defined() && slot.size(1) == v.size(1) ? at::cat({slot, v}, 0) : v;
    }
  }
  for (auto& [l, v] : by_layer)
    if (v.hidden.defined()) o.activations.push_back(std::move(v));
  return o;
}

Observation observation_from_tap(const std::vector<transport::TapEntry>& entries, std::int64_t hidden,
                                 const std::string& design, const std::string& party) {
  std::vector<transport::TapEntry> filtered;  // only when a party is named: blobs can be large
  const auto& mine = party.empty() ? entries : filtered;
  std::string seen_party = party;
  std::uint64_t sent = 0, received = 0;
  std::vector<std::string> blobs;
  for (const auto& e : entries) {
    if (!party.empty() && e.party != party) continue;
    if (seen_party.empty()) seen_party = e.party;
    if (!party.empty()) filtered.push_back(e);
    if (e.direction == transport::Direction::kSent) {
      sent += e.wire_bytes;
    } else {
      received += e.wire_bytes;
      for (const auto& [name, b] : e.message.blobs) blobs.push_back(b);
    }
  }
  const auto spec = designs::find_design_spec(design);
  Observation o = spec && spec->observe ? spec->observe(mine, hidden) : read_tap_tensors(mine, hidden);
  o.design = design;
  o.party = seen_party;
  o.bytes_sent = sent;
  o.bytes_received = received;
  o.opaque_blobs = std::move(blobs);
  return o;
}

at::Tensor hidden_at(model::CausalLM& model, const at::Tensor& ids, int cut) {
  VEIL_CHECK_ARG(cut >= 0 && cut < model.config().num_layers, "cut layer ", cut, " outside [0, ",
                 model.config().num_layers, ")");
  at::NoGradGuard g;
  auto h = model.embed(ids, 0);
  for (int l = 0; l < cut; ++l) h = model.block(l, h, nullptr, 0);
  return h;
}

Observation simulate_split_view(model::CausalLM& model, const at::Tensor& input_ids, const at::Tensor& labels,
                                int cut, const std::string& design, int gradient_layer) {
  const int L = model.config().num_layers;
  const int j = gradient_layer < 0 ? cut : gradient_layer;
  VEIL_CHECK_ARG(j >= cut && j <= L, "gradient layer ", j, " outside [", cut, ", ", L, "]");
  Observation o;
  o.design = design;
  o.party = "server";
  o.simulated = true;
  ActivationView v;
  v.layer = cut;
  v.gradient_layer = gradient_layer;
  auto h = hidden_at(model, input_ids, cut);
  at::Tensor hj;
  {
    at::NoGradGuard g;
    hj = h;
    for (int l = cut; l < j; ++l) hj = model.block(l, hj, nullptr, 0);
  }
  hj = hj.detach().requires_grad_(true);
  auto x = hj;
  for (int l = j; l < L; ++l) x = model.block(l, x, nullptr, 0);
  auto logits = model.lm_head(model.final_norm(x));
  auto loss = torch::nn::functional::cross_entropy(
      logits.reshape({-1, logits.size(-1)}), labels.reshape({-1}),
      torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100).reduction(torch::kSum));
  auto n = std::max<std::int64_t>(1, labels.ne(-100).sum().item<std::int64_t>());
  auto grad = torch::autograd::grad({loss / static_cast<double>(n)}, {hj})[0];
  v.hidden = h.detach();
  v.gradient = grad.detach();
  o.bytes_received = static_cast<std::uint64_t>(v.hidden.numel() * 4);
  o.activations.push_back(std::move(v));
  return o;
}

}  // namespace veil::eval
