// Registration of this design's halves (see veil/designs/registry.h): `plain` runs locally unless
// it is given workers, then its block projections run on them (session.h, worker.h).
#include "designs/builtin.h"
#include "designs/plain/session.h"
#include "designs/plain/worker.h"
#include "veil/designs/registry.h"
#include "veil/train/design.h"

namespace veil::designs {

void register_plain_remote() {
  register_worker("plain", plain::install_worker);
  train::register_design("plain",
                         "no protection: everything runs locally (the baseline); with --workers the layers' "
                         "projections run on workers that see activations in the clear",
                         plain::open_session);
}

}  // namespace veil::designs
