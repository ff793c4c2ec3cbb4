#include "veil/eval/observation.h"

#include <ATen/ATen.h>
#include <torch/torch.h>

#include "veil/model/causal_lm.h"
#include "veil/model/projection.h"
#include "veil/util/check.h"

namespace veil::eval {

namespace {

// The activation a split message carries: "h"/"g" in f32, or quantized rows "q" (int8/int16) or
// "q4" (two 4-bit values per byte, value + 8 in each nibble, low nibble first) times "scale".
at::Tensor split_tensor(const transport::Message& m, const std::string& name, std::int64_t hidden) {
  if (auto it = m.tensors.find(name); it != m.tensors.end()) return it->second.to(at::kFloat);
  auto s = m.tensors.find("scale");
  if (s == m.tensors.end()) return {};
  if (auto q = m.tensors.find("q"); q != m.tensors.end()) return q->second.to(at::kFloat) * s->second.to(at::kFloat);
  if (auto q = m.tensors.find("q4"); q != m.tensors.end()) {
    auto p = q->second.to(at::kInt);
    auto lo = p.bitwise_and(15) - 8, hi = p.bitwise_right_shift(4).bitwise_and(15) - 8;
    auto both = at::stack({lo, hi}, -1).flatten(-2).slice(-1, 0, hidden);
    return both.to(at::kFloat) * s->second.to(at::kFloat);
  }
  return {};
}

at::Tensor as_btH(const at::Tensor& t, std::int64_t hidden) {
  return t.dim() == 3 && t.size(2) == hidden ? t : at::Tensor{};
}

void read_split(Observation& o, const std::vector<const transport::TapEntry*>& msgs, std::int64_t hidden) {
  int first = -1, end = -1;
  std::map<std::int32_t, at::Tensor> states, grads;  // by micro-batch id, first step only
  std::vector<std::int32_t> order;
  bool stepped = false;
  for (const auto* e : msgs) {
    const auto& m = e->message;
    if (e->direction != transport::Direction::kReceived) continue;
    if (m.op == "split.open" && m.ints.size() >= 2) {
      first = m.ints[0];
      end = m.ints[1];
      if (m.meta.count("mix")) o.notes["mix"] = m.meta.at("mix");
      for (const auto& [name, w] : m.tensors)
        if (w.dim() == 2 && at::isFloatingType(w.scalar_type())) o.weights[name] = w.to(at::kFloat);
    } else if (m.op == "split.step") {
      if (!states.empty()) stepped = true;
    } else if (m.op == "split.forward" && !stepped && !m.ints.empty()) {
      auto h = as_btH(split_tensor(m, "h", hidden), hidden);
      if (h.defined() && !states.count(m.ints[0])) {
        states[m.ints[0]] = h;
        order.push_back(m.ints[0]);
      }
    } else if (m.op == "split.backward" && !stepped && !m.ints.empty()) {
      auto g = as_btH(split_tensor(m, "g", hidden), hidden);
      if (g.defined() && !grads.count(m.ints[0])) grads[m.ints[0]] = g;
    }
  }
  if (order.empty()) return;
  ActivationView v;
  v.layer = std::max(0, first);
  v.gradient_layer = end;
  std::vector<at::Tensor> hs, gs;
  for (auto id : order) {
    hs.push_back(states[id]);
    if (grads.count(id)) gs.push_back(grads[id]);
  }
  v.hidden = at::cat(hs, 0);
  if (gs.size() == hs.size()) v.gradient = at::cat(gs, 0);
  o.notes["middle"] = "[" + std::to_string(first) + ", " + std::to_string(end) + ")";
  o.activations.push_back(std::move(v));
}

void read_obfuscatune(Observation& o, const std::vector<const transport::TapEntry*>& msgs) {
  for (const auto* e : msgs) {
    const auto& m = e->message;
    if (e->direction != transport::Direction::kReceived) continue;
    if (m.op == "obfuscatune.load" && m.ints.size() == 1 && m.tensors.count("w") && m.ints[0] >= 0 &&
        m.ints[0] < static_cast<std::int32_t>(model::Proj::kLmHead)) {
      o.weights[std::to_string(m.layer) + "." + std::string(model::proj_module_name(model::proj_from_wire(m.ints[0])))] =
          m.tensors.at("w").to(at::kFloat);
    } else if (m.op == "obfuscatune.forward" && m.tensors.count("x")) {
      std::vector<int> projs(m.ints.begin(), m.ints.end());
      bool seen = false;
      for (const auto& k : o.keyed_inputs) seen = seen || (k.layer == m.layer && k.projections == projs);
      if (!seen) o.keyed_inputs.push_back({static_cast<int>(m.layer), projs, m.tensors.at("x").to(at::kFloat)});
    }
  }
}

}  // namespace

Observation observation_from_tap(const std::vector<transport::TapEntry>& entries, std::int64_t hidden,
                                 const std::string& design, const std::string& party) {
  Observation o;
  o.design = design;
  o.party = party;
  std::vector<const transport::TapEntry*> mine;
  bool split = false, obfuscatune = false;
  for (const auto& e : entries) {
    if (!party.empty() && e.party != party) continue;
    if (o.party.empty()) o.party = e.party;
    mine.push_back(&e);
    split = split || e.message.op.rfind("split.", 0) == 0;
    obfuscatune = obfuscatune || e.message.op.rfind("obfuscatune.", 0) == 0;
    if (e.direction == transport::Direction::kSent) {
      o.bytes_sent += e.wire_bytes;
    } else {
      o.bytes_received += e.wire_bytes;
      for (const auto& [name, b] : e.message.blobs) o.opaque_blobs.push_back(b);
    }
  }
  if (split) {
    read_split(o, mine, hidden);
    return o;
  }
  if (obfuscatune) {
    read_obfuscatune(o, mine);
    return o;
  }
  std::map<int, ActivationView> by_layer;
  for (const auto* e : mine) {
    const auto& m = e->message;
    for (const auto& [name, t] : m.tensors) {
      if (!t.defined() || !at::isFloatingType(t.scalar_type())) continue;
      const bool is_weight = t.dim() == 2 && (name.rfind("weight", 0) == 0 || name.rfind("w", 0) == 0);
      if (is_weight) {
        o.weights[std::to_string(m.layer) + "." + name] = t.to(at::kFloat);
        continue;
      }
      if (e->direction != transport::Direction::kReceived || t.dim() < 2 || t.size(-1) != hidden) continue;
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
