// The registration function of each built-in design (one per folder under src/designs/).
#pragma once

namespace veil::designs {

void register_plain_remote();    // plain/: `plain` with its projections on remote workers
void register_obfuscatune();     // obfuscatune/
void register_he_lora();         // he_lora/
void register_guarded_tuning();  // guarded/: split, gradfree, offsite

}  // namespace veil::designs
