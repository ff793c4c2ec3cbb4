#include "eval/cell_privacy.h"

#include <algorithm>
#include <chrono>

#include <ATen/ATen.h>

#include "veil/eval/attack_round.h"
#include "veil/eval/attacks/he_security.h"
#include "veil/eval/model_attack.h"
#include "veil/he/parameters.h"
#include "veil/lora/peft.h"
#include "veil/model/causal_lm.h"

namespace veil::eval {
namespace fs = std::filesystem;
using nlohmann::json;
using designs::EvaluationTraits;

json PrivacyRound::run(const designs::DesignSpec& spec, const train::FinetuneConfig& fc, const fs::path& dir,
                       const json& report, const std::function<void(const std::string&)>& announce) {
  json privacy = json::object();
  std::optional<Observation> obs;
  json report_now = report;
  const auto& traits = spec.evaluation;
  if (traits.view == EvaluationTraits::View::kSimulatedSplit) {
    // No untrusted party exists in these runs: the view is simulated (and labelled so).
    announce("attacks (simulated view)");
    auto attacked_model = model::load_model(cfg_.model);
    attacked_model.model->set_lora(lora::load_peft_adapter(dir, attacked_model.model->config()));
    const int cut = traits.simulated_cut < 0 ? cfg_.cut_layer : traits.simulated_cut;
    auto labels = in_.private_rows.slice(1, 1).contiguous();
    obs = simulate_split_view(*attacked_model.model, in_.private_ids, labels, cut, spec.name);
    privacy["view"] = traits.describe_view
                          ? traits.describe_view(cut)
                          : "simulated: the hidden states at the input of block " + std::to_string(cut) +
                                " and their loss gradient";
  } else {
    announce("attack round (one real step on the attacked records, audit tap)");
    auto round = run_attack_round(fc, in_.private_rows, dir / "attack-round" / "audit", dir,
                                  in_.pub.model->config().hidden_size);
    obs = std::move(round.observation);
    if (!round.design_report.empty()) report_now = round.design_report;
    privacy["audit"] = {{"dir", fs::relative(dir / "attack-round" / "audit", cfg_.out).string()},
                        {"messages", round.messages},
                        {"bytes_received", obs->bytes_received},
                        {"bytes_sent", obs->bytes_sent},
                        {"adapter", round.adapter_restored ? "the cell's trained adapter" : round.adapter_note},
                        {"seconds", round.seconds}};
    for (const auto& [key, v] : obs->notes) privacy["audit"][key] = v;
    const std::string tap = "audit tap of " + (obs->party.empty() ? std::string("the untrusted party") : obs->party);
    announce("attacks (" + tap + ")");
    if (!obs->activations.empty()) {
      const auto& v = obs->activations.front();
      privacy["view"] = tap + ": hidden states at the input of block " + std::to_string(v.layer) +
                        " as received (after the data owner's enhancements)" +
                        (v.gradient.defined() ? ", and the gradient at the input of block " + std::to_string(v.grad_layer())
                                              : std::string(", no gradient"));
    } else if (!obs->keyed_inputs.empty()) {
      privacy["view"] = tap + ": obfuscated weights of every block projection and keyed inputs x·R (" +
                        std::to_string(obs->keyed_inputs.size()) + " kinds)";
      privacy["attacks"] = attack_keyed_inputs(in_, *obs);
      if (traits.model_stealing_round && in_.public_ids.defined() && in_.public_ids.size(0) >= 8)
        model_stealing_round(privacy, fc, dir, announce);
    } else if (!obs->opaque_blobs.empty()) {
      privacy["view"] = tap + ": " + std::to_string(obs->opaque_blobs.size()) +
                        " opaque blobs (ciphertexts, keys, parameters) and no plaintext tensor";
    } else {
      privacy["view"] = tap + ": nothing received during tuning (" + std::to_string(round.messages) + " messages)" +
                        traits.quiet_view_note;
    }
  }
  std::optional<HeSecurity> sec;
  if (obs) sec = he_security_from_blobs(obs->opaque_blobs);
  if (!sec && report_now.contains("he_parameters")) {
    const auto& hp = report_now["he_parameters"];
    he::Parameters p;
    p.poly_degree = hp.value("poly_degree", 0u);
    p.log_q = hp.value("log_q", 0u);
    sec = he_security(p);
  }
  if (sec) {
    // HE: no attack on ciphertexts; the security level of the parameters the workers saw.
    privacy["he_security"] = sec->to_json();
    privacy["ciphertext_only"] = !obs || !obs->has_plaintext();
    if (obs && !obs->has_plaintext())
      privacy["view"] = privacy["view"].get<std::string>() +
                        " — ciphertexts only (RLWE): no attack is run on them; see he_security";
  }
  if (obs) {
    privacy["simulated"] = obs->simulated;
    privacy["party"] = obs->party;
    if (!obs->activations.empty()) {
      privacy["layer"] = obs->activations.front().layer;
      privacy["attacks"] = run_attacks(in_, cfg_, *obs);
    }
    double best = 0, best_secret = 0, best_rouge = 0;
    const json attacks = privacy.value("attacks", json::object());
    for (const auto& [a, r] : attacks.items()) {
      if (!r.is_object()) continue;
      best = std::max(best, r.value("token_accuracy", 0.0));
      best_secret = std::max(best_secret, r.value("secret_fraction", 0.0));
      best_rouge = std::max(best_rouge, r.value("rouge_l_f1", 0.0));
    }
    if (privacy.contains("attacks") && !privacy["attacks"].empty()) {
      privacy["best_token_accuracy"] = best;
      privacy["best_rouge_l_f1"] = best_rouge;
      privacy["best_secret_fraction"] = best_secret;
    }
  }
  return privacy;
}

void PrivacyRound::model_stealing_round(json& privacy, const train::FinetuneConfig& fc, const fs::path& dir,
                                        const std::function<void(const std::string&)>& announce) {
  announce("model-stealing round (victim = base fine-tuned on public text)");
  const auto M = in_.public_ids.size(0), tune = M * 3 / 4;
  if (!victim_) victim_ = fine_tune_victim(cfg_.model, in_.public_ids.slice(0, 0, tune), cfg_.out / "victim");
  auto vc = fc;
  vc.out = dir / "model-attack";
  auto ma = attack_obfuscatune_model(cfg_.model, *victim_, in_.private_rows, in_.public_ids.slice(0, tune), vc);
  privacy["model_confidentiality"] = ma.to_json();
  privacy["model_confidentiality"]["victim"] = {{"steps", victim_->steps},
                                                {"relative_drift", victim_->relative_drift},
                                                {"tuning_rows", tune},
                                                {"held_out_rows", M - tune}};
  privacy["attacks"]["weight_recovery_inversion"] = score(in_, ma.inverted_ids, ma.attack_seconds);
  privacy["attacks"]["weight_recovery_inversion"]["what"] =
      "layer 0's q/k/v input key recovered by direction matching against the public base (the model is a "
      "fine-tune of it), x = x*·B̂ᵀ inverted";
  if (ma.mlp_inverted_ids.defined()) {
    privacy["attacks"]["permuted_mlp"] = score(in_, ma.mlp_inverted_ids, ma.attack_seconds);
    privacy["attacks"]["permuted_mlp"]["what"] = "layer 0's MLP activation act·P·D: " + ma.mlp_method;
  }
}

}  // namespace veil::eval
