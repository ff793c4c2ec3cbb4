// Registration of this design's halves (see veil/designs/registry.h).
#include "designs/builtin.h"
#include "designs/obfuscatune/session.h"
#include "veil/designs/obfuscatune/worker.h"
#include "veil/designs/registry.h"

namespace veil::designs {

void register_obfuscatune() {
  train::register_design("obfuscatune",
                         "ObfuscaTune: an enclave keeps embeddings, norms, attention and LM head and sends every "
                         "block projection, on secretly transformed weights and activations, to an untrusted worker",
                         [](const train::FinetuneConfig& cfg) { return obfuscatune::open_session(cfg); });
  register_worker("obfuscatune", obfuscatune::install_worker);
}

}  // namespace veil::designs
