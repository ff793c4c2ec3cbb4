#include "designs/obfuscatune/observe.h"

#include <ATen/ATen.h>

#include "veil/eval/observation.h"
#include "veil/model/projection.h"

namespace veil::designs::obfuscatune {

Observation observe(const std::vector<transport::TapEntry>& entries, std::int64_t hidden) {
  bool ours = false;
  for (const auto& e : entries) ours = ours || e.message.op.rfind("obfuscatune.", 0) == 0;
  if (!ours) return eval::read_tap_tensors(entries, hidden);
  Observation o;
  for (const auto& e : entries) {
    const auto& m = e.message;
    if (e.direction != transport::Direction::kReceived) continue;
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
  return o;
}

}  // namespace veil::designs::obfuscatune
