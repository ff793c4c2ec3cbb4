#include "veil/eval/model_attack.h"

#include <chrono>

#include <ATen/ATen.h>

#include "veil/eval/attack_round.h"
#include "veil/eval/attacks/obfuscation.h"
#include "veil/eval/attacks/permutation_recovery.h"
#include "veil/model/causal_lm.h"
#include "veil/model/projection.h"
#include "veil/util/check.h"

namespace veil::eval {
namespace {

std::string opt(const std::map<std::string, std::string>& o, const std::string& k, const std::string& dflt) {
  auto it = o.find(k);
  return it == o.end() ? dflt : it->second;
}

}  // namespace

nlohmann::json ModelAttackOutcome::to_json() const {
  nlohmann::json j = confidentiality.to_json();
  j["options"] = options;
  j["rows_matched"] = recovery.row_fraction();
  j["columns_matched"] = recovery.col_fraction();
  int snapped = 0, fell_back = 0;
  for (const auto& g : recovery.groups) {
    snapped += g.output_snapped || g.input_snapped;
    fell_back += g.fell_back;
  }
  j["groups"] = recovery.groups.size();
  j["groups_with_a_permutation_key_recovered"] = snapped;
  j["groups_left_at_the_public_base"] = fell_back;
  j["mlp_inversion_method"] = mlp_method;
  j["attack_seconds"] = attack_seconds;
  j["round_seconds"] = round_seconds;
  return j;
}

ModelAttackOutcome attack_obfuscatune_model(const std::filesystem::path& base_dir, const VictimModel& victim,
                                            const at::Tensor& rows, const at::Tensor& held_out,
                                            train::FinetuneConfig fc) {
  VEIL_CHECK_ARG(rows.defined() && rows.dim() == 2 && rows.size(1) >= 3, "model attack: rows must be [B, T+1]");
  ModelAttackOutcome out;
  const auto options = fc.design_options;
  const auto work = fc.out;
  out.options = options;
  fc.model = victim.dir;
  fc.seq_len = rows.size(1) - 1;
  fc.batch_size = rows.size(0);
  auto base = model::read_model(base_dir);
  auto round = run_attack_round(fc, rows, work / "audit", {}, base.config.hidden_size);
  out.round_seconds = round.seconds;
  const auto t0 = std::chrono::steady_clock::now();
  WeightRecoveryOptions wo;
  wo.variant = opt(options, "variant", "matched");
  const auto matrix = opt(options, "matrix", options.count("kappa") ? "kappa" : "kronecker");
  wo.orthogonal = matrix != "gaussian" && matrix != "kappa";
  out.recovery = recover_weights(base.config, base.weights.linear, round.observation.weights, wo);
  out.confidentiality = score_model_recovery(base_dir, out.recovery.weights, victim.linear, held_out);
  const auto B = rows.size(0), T = rows.size(1) - 1;
  const auto bp = model::block_projections(base.config.family);
  auto stolen = model_with_linear(base_dir, out.recovery.weights);
  for (const auto& k : round.observation.keyed_inputs) {
    if (k.layer != 0 || k.projections.empty() || k.x.size(0) != B * T) continue;
    if (k.projections.front() == static_cast<int>(bp.attn_in[0])) {
      const auto* g = out.recovery.group(0, bp.attn_in[0]);
      out.inverted_ids = invert_attention_inputs(*stolen.model, k.x.matmul(g->input_key.t()), true).reshape({B, T});
    } else if (k.projections.front() == static_cast<int>(bp.mlp_out[0]) && wo.variant == "matched" &&
               opt(options, "mlp", "permuted") == "permuted") {
      const auto* g = out.recovery.group(0, bp.mlp_out[0]);
      if (g->input_snapped) {
        out.mlp_method = "down's recovered permutation, then nearest activation left to right";
        out.mlp_inverted_ids = invert_permuted_mlp(*stolen.model, k.x, B, 0, 16, 0.9, g->input_key).ids;
      } else {
        out.mlp_method = "sorted magnitudes (no permutation recovered)";
        out.mlp_inverted_ids = invert_permuted_mlp(*stolen.model, k.x, B, 0, 64).ids;
      }
    }
  }
  if (out.mlp_method.empty()) out.mlp_method = "none: the MLP width is not under a permutation in this variant";
  out.attack_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace veil::eval
