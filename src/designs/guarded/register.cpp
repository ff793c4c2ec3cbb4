// Registration of the GuardedTuning designs (see veil/designs/spec.h): `split` and `gradfree`
// (both halves) and `offsite` (data owner only: nothing runs elsewhere during training).
#include "designs/builtin.h"
#include "designs/guarded/observe.h"
#include "designs/guarded/server.h"
#include "veil/designs/guarded/offsite.h"
#include "veil/designs/guarded/split.h"
#include "veil/designs/registry.h"
#include "veil/train/design.h"

namespace veil::designs {
namespace {

std::vector<OptionDoc> split_options(bool gradfree) {
  std::vector<OptionDoc> o = {
      {"k", "client blocks at the bottom", "1"},
      {"m", "client blocks at the top", "1"},
      {"noise", "none|gaussian|laplace on what the client sends", "none"},
      {"noise_scale", "Gaussian sigma or Laplace b per coordinate", "0"},
      {"epsilon", "Laplace: sets noise_scale = 1/epsilon", ""},
      {"clip", "> 0: each token's row clipped to this L2 norm first", "0"},
      {"dcor", "weight of the distance-correlation penalty (NoPeek)", "0"},
      {"quant_bits", "0: f32 on the wire; 2..16: per-row quantization", "0"},
      {"mix", "none|orthogonal mixing of the hidden dimension (Llama only)", "none"},
      {"server_lora", "LoRA on the server's blocks, trained by the server", "false"},
      {"server_lr", "server_lora's constant rate (0: the run's --lr)", "0"},
      {"secret_file", "the client's secret (64 hex digits, 0600): read, or created", ""},
      {"workers", "'in-process': an in-process server", ""}};
  if (gradfree) {
    o.push_back({"zo_bottom", "train the bottom adapters with a zeroth-order (SPSA) estimate", "false"});
    o.push_back({"zo_eps", "SPSA perturbation size", "1e-3"});
    o.push_back({"zo_lr", "zeroth-order rate (0: the run's --lr)", "0"});
  }
  return o;
}

DesignSpec split_spec(const std::string& name, std::string summary, bool gradfree) {
  DesignSpec s;
  s.name = name;
  s.summary = std::move(summary);
  s.options = split_options(gradfree);
  s.open_session = [name](const train::FinetuneConfig& cfg) {
    return guarded::open_split_session(cfg, guarded::parse_split_options(name, cfg.design_options), nullptr);
  };
  s.install_worker = [gradfree](transport::Service& service, const WorkerContext& ctx) {
    guarded::install_split_server(service, ctx, gradfree);
  };
  s.observe = guarded::observe_split;
  return s;
}

}  // namespace

void register_guarded_tuning() {
  register_design_spec(split_spec("split",
                                  "U-shaped split learning: the client keeps embedding, first k and last m blocks and "
                                  "the head; the server runs the middle (noise, dcor, quantization, orthogonal mixing "
                                  "options)",
                                  false));
  register_design_spec(split_spec("gradfree",
                                  "split without gradients on the wire: the server runs the middle forward only; top "
                                  "adapters by backprop, bottom ones optionally by zeroth-order (SPSA) estimates",
                                  true));
  DesignSpec offsite;
  offsite.name = "offsite";
  offsite.summary =
      "Offsite-Tuning: fine-tune adapters on an emulator (layer-dropped middle) locally; the model owner plugs them "
      "into the full model (veil offsite emulate|plug)";
  offsite.open_session = [](const train::FinetuneConfig& cfg) { return guarded::open_offsite_session(cfg); };
  offsite.evaluation.quiet_view_note = "; the model owner receives only the adapters afterwards";
  register_design_spec(std::move(offsite));
}

}  // namespace veil::designs
