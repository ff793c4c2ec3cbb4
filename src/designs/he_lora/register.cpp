// Registration of this design's halves (see veil/designs/registry.h). Nothing is registered until
// the design lands: `--design` then lists only what works.
#include "designs/builtin.h"

namespace veil::designs {

void register_he_lora() {}

}  // namespace veil::designs
