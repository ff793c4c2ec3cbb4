// The model-stealing round of an obfuscatune cell: a victim built from the public base (fine-tuned
// on public text, veil/eval/attacks/victim_model.h), one real step of the design on the attacked
// records with the victim sealed in (run_attack_round: the worker's audit tap), then the attacks
// that a worker holding the public base can run on that tap: weight recovery by direction
// matching (weight_recovery.h), inversion of the layer-0 inputs through the recovered key, and on
// `matched` the MLP activation through down's recovered permutation (permutation_recovery.h).
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "veil/eval/attacks/model_confidentiality.h"
#include "veil/eval/attacks/victim_model.h"
#include "veil/eval/attacks/weight_recovery.h"
#include "veil/train/finetune.h"

namespace veil::eval {

struct ModelAttackOutcome {
  std::map<std::string, std::string> options;  // the design's --opt
  WeightRecovery recovery;
  ModelConfidentiality confidentiality;
  at::Tensor inverted_ids;       // [B, T] from layer 0's q/k/v input through the recovered key
  at::Tensor mlp_inverted_ids;   // [B, T] from layer 0's MLP activation, or undefined
  std::string mlp_method;        // "recovered permutation" | "sorted magnitudes" | why none
  double attack_seconds = 0;     // recovery and inversions (the attack round excluded)
  double round_seconds = 0;
  [[nodiscard]] nlohmann::json to_json() const;  // without the ids
};

// `rows`: the attacked records [B, T+1]; `held_out`: public rows [N, T'+1] for the losses; `cell`:
// the cell's fine-tuning configuration (data, cell.design: an obfuscatune-like design whose worker
// holds obfuscated weights, its options); the round runs that design on the model at victim.dir,
// its audit tap under cell.out / "audit".
// The attacker's assumptions come from the options (public: the enclave's measurement names them):
// the variant's key layout, orthogonal keys unless matrix=gaussian|kappa (then least squares).
[[nodiscard]] ModelAttackOutcome attack_obfuscatune_model(const std::filesystem::path& base_dir,
                                                          const VictimModel& victim, const at::Tensor& rows,
                                                          const at::Tensor& held_out,
                                                          train::FinetuneConfig cell);

}  // namespace veil::eval
