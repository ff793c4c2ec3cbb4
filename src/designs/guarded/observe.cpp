#include "designs/guarded/observe.h"

#include <map>

#include <ATen/ATen.h>

#include "veil/eval/observation.h"

namespace veil::designs::guarded {
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

}  // namespace

Observation observe_split(const std::vector<transport::TapEntry>& entries, std::int64_t hidden) {
  bool split = false;
  for (const auto& e : entries) split = split || e.message.op.rfind("split.", 0) == 0;
  if (!split) return eval::read_tap_tensors(entries, hidden);
  Observation o;
  int first = -1, end = -1;
  std::map<std::int32_t, at::Tensor> states, grads;  // by micro-batch id, first step only
  std::vector<std::int32_t> order;
  bool stepped = false;
  for (const auto& e : entries) {
    const auto& m = e.message;
    if (e.direction != transport::Direction::kReceived) continue;
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
  if (order.empty()) return o;
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
  return o;
}

}  // namespace veil::designs::guarded
