// Registration of the GuardedTuning designs (see veil/designs/registry.h): `split` and `gradfree`
// (both halves) and `offsite` (data owner only: nothing runs elsewhere during training).
#include "designs/builtin.h"
#include "designs/guarded/server.h"
#include "veil/designs/guarded/offsite.h"
#include "veil/designs/guarded/split.h"
#include "veil/train/design.h"

namespace veil::designs {

void register_guarded_tuning() {
  using namespace guarded;
  train::register_design("split",
                         "U-shaped split learning: the client keeps embedding, first k and last m blocks and the "
                         "head; the server runs the middle (noise, dcor, quantization, orthogonal mixing options)",
                         [](const train::FinetuneConfig& cfg) {
                           return open_split_session(cfg, parse_split_options("split", cfg.design_options), nullptr);
                         });
  train::register_design("gradfree",
                         "split without gradients on the wire: the server runs the middle forward only; top "
                         "adapters by backprop, bottom ones optionally by zeroth-order (SPSA) estimates",
                         [](const train::FinetuneConfig& cfg) {
                           return open_split_session(cfg, parse_split_options("gradfree", cfg.design_options), nullptr);
                         });
  train::register_design("offsite",
                         "Offsite-Tuning: fine-tune adapters on an emulator (layer-dropped middle) locally; the "
                         "model owner plugs them into the full model (veil offsite emulate|plug)",
                         [](const train::FinetuneConfig& cfg) { return open_offsite_session(cfg); });
  register_worker("split", [](transport::Service& s, const WorkerContext& ctx) { install_split_server(s, ctx, false); });
  register_worker("gradfree", [](transport::Service& s, const WorkerContext& ctx) { install_split_server(s, ctx, true); });
}

}  // namespace veil::designs
