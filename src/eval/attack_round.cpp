#include "veil/eval/attack_round.h"

#include <chrono>

#include <ATen/ATen.h>

#include "veil/lora/peft.h"
#include "veil/model/causal_lm.h"
#include "veil/model/lora.h"
#include "veil/train/design.h"
#include "veil/train/trainer.h"
#include "veil/transport/audit_dir.h"
#include "veil/util/check.h"

namespace veil::eval {
namespace fs = std::filesystem;

AttackRound run_attack_round(train::FinetuneConfig fc, const at::Tensor& rows, const fs::path& audit_dir,
                             const fs::path& adapter_dir, std::int64_t hidden) {
  VEIL_CHECK_ARG(rows.defined() && rows.dim() == 2 && rows.size(1) >= 3, "attack round: rows must be [N, T+1], T >= 2");
  const auto t0 = std::chrono::steady_clock::now();
  AttackRound out;
  fs::remove_all(audit_dir);
  fs::create_directories(audit_dir);
  fc.parties = {};
  fc.parties.audit_dir = audit_dir;
  fc.max_steps = 1;
  fc.progress = false;
  {
    auto session = train::open_design(fc);
    auto& m = session->model();
    if (!adapter_dir.empty()) {
      try {
        auto saved = lora::load_peft_adapter(adapter_dir, m.config());
        auto live = session->adapters();
        VEIL_CHECK_ARG(live && live->pairs().size() == saved->pairs().size(), "the trained adapter covers ",
                       saved->pairs().size(), " projections, the session ", live ? live->pairs().size() : 0);
        at::NoGradGuard g;
        for (auto& [site, p] : live->pairs()) {
          auto it = saved->pairs().find(site);
          VEIL_CHECK_ARG(it != saved->pairs().end() && it->second.a.sizes().equals(p.a.sizes()) &&
                             it->second.b.sizes().equals(p.b.sizes()),
                         "the trained adapter does not match the session's");
        }
        for (auto& [site, p] : live->pairs()) {
          p.a.copy_(saved->pairs().at(site).a);
          p.b.copy_(saved->pairs().at(site).b);
        }
        session->adapters_restored();
        out.adapter_restored = true;
      } catch (const std::exception& e) {
        out.adapter_note = std::string("fresh adapters (trained one not loaded: ") + e.what() + ")";
      }
    }
    train::OptimConfig optim = fc.optim;
    optim.total_steps = 1;
    train::Trainer trainer(m, session->trainable(), optim);
    const auto T = rows.size(1) - 1;
    train::MicroBatch mb{rows.slice(1, 0, T).contiguous(), rows.slice(1, 1, T + 1).contiguous()};
    (void)session->step(trainer, {&mb, 1});
    session->sync();
    out.design_report = session->report();
  }  // the session (and its in-process parties) closed: every message is on disk
  // A design with no untrusted party during tuning (offsite) leaves the tap empty: no index at all.
  std::vector<transport::TapEntry> entries;
  if (fs::exists(audit_dir / "index.jsonl")) entries = transport::read_audit_dir(audit_dir);
  out.messages = entries.size();
  out.observation = observation_from_tap(entries, hidden, fc.design);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace veil::eval
