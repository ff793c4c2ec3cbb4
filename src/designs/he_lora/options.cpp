#include "veil/designs/he_lora/options.h"

#include <algorithm>

#include "veil/model/projection.h"
#include "veil/util/check.h"

namespace veil::designs::he_lora {
namespace {

int parse_int(const std::string& key, const std::string& value, int lo, int hi) {
  std::size_t used = 0;
  int v = 0;
  try {
    v = std::stoi(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  VEIL_CHECK_ARG(used == value.size() && !value.empty() && v >= lo && v <= hi, "--opt ", key, "=", value,
                 ": expected an integer in [", lo, ", ", hi, "]");
  return v;
}

bool parse_place(const std::string& key, const std::string& value) {
  VEIL_CHECK_ARG(value == "worker" || value == "local", "--opt ", key, "=", value, ": expected worker or local");
  return value == "worker";
}

}  // namespace

HeLoraOptions HeLoraOptions::parse(const std::map<std::string, std::string>& opts) {
  HeLoraOptions o;
  for (const auto& [key, value] : opts) {
    if (key == "bits") {
      o.bits = parse_int(key, value, 2, 16);
    } else if (key == "weight_bits") {
      o.weight_bits = parse_int(key, value, 2, 16);
    } else if (key == "skip_backward_layers") {
      o.skip_backward_layers = parse_int(key, value, 0, 1 << 20);
    } else if (key == "lm_head") {
      o.lm_head_on_worker = parse_place(key, value);
    } else if (key == "embed") {
      o.embed_on_worker = parse_place(key, value);
    } else if (key == "pipeline") {
      VEIL_CHECK_ARG(value == "auto" || value == "on" || value == "off", "--opt pipeline=", value,
                     ": expected auto, on or off");
      o.pipeline = value == "on"    ? HeLoraOptions::Pipeline::kOn
                   : value == "off" ? HeLoraOptions::Pipeline::kOff
                                    : HeLoraOptions::Pipeline::kAuto;
    } else if (key == "precision") {
      VEIL_CHECK_ARG(value == "exact" || value == "compact", "--opt precision=", value, ": expected exact or compact");
      o.precision = value == "compact" ? he::Precision::kCompact : he::Precision::kExact;
    } else if (key == "in_flight") {
      o.in_flight = parse_int(key, value, 1, 1024);
    } else if (key == "workers") {
      const std::string prefix = "in-process";
      VEIL_CHECK_ARG(value.rfind(prefix, 0) == 0, "--opt workers=", value, ": expected in-process or in-process:N");
      if (value.size() == prefix.size()) {
        o.in_process_workers = 1;
      } else {
        VEIL_CHECK_ARG(value[prefix.size()] == ':', "--opt workers=", value, ": expected in-process or in-process:N");
        o.in_process_workers = parse_int(key, value.substr(prefix.size() + 1), 1, 1024);
      }
    } else {
      VEIL_CHECK_ARG(false, "design 'he-lora' has no option '", key,
                     "' (options: bits, weight_bits, skip_backward_layers, lm_head, embed, workers, pipeline, in_flight, precision)");
    }
  }
  return o;
}

he::Parameters parameters_for(const model::ModelConfig& cfg, int bits, int weight_bits, he::Precision precision) {
  std::int64_t inner = cfg.vocab_size;  // embedding one-hot (forward) and LM head gradient (backward)
  auto bp = model::block_projections(cfg.family);
  for (auto group : {bp.attn_in, bp.attn_out, bp.mlp_in, bp.mlp_out}) {
    std::int64_t outs = 0;
    for (model::Proj p : group) {
      auto [out, in] = model::proj_shape(cfg, p);
      inner = std::max(inner, in);
      outs += out;
    }
    inner = std::max(inner, outs);
  }
  inner = std::min(inner, kMaxChunk);
  // The embedding lookup (exact, one-hot rows of min(N, vocab) coefficients) runs at the session's
  // N: its modulus is set by the table's noise, not by the bit widths, so at small widths (compact,
  // 4-bit activations: log q <= 27) it can need a larger N than the products.
  he::ShapeBounds one_hot;
  one_hot.input_l1 = 1;
  const auto lookup = he::Parameters::for_matmul(2, weight_bits, static_cast<std::size_t>(std::min<std::int64_t>(
                                                     cfg.vocab_size, 1024)), 0, he::Precision::kExact, one_hot);
  return he::Parameters::for_matmul(bits, weight_bits, static_cast<std::size_t>(inner), lookup.poly_degree, precision);
}

int security_bits(const he::Parameters& parms) {
  if (parms.allow_insecure) return 0;
  const int max_q = he::max_log_q_128(parms.poly_degree);
  return max_q > 0 && static_cast<int>(parms.log_q) <= max_q ? 128 : 0;
}

}  // namespace veil::designs::he_lora
