// How freed memory goes back to the system. A training step allocates and frees the same large
// activation and gradient buffers every step; glibc's defaults return them to the kernel (munmap,
// heap trimming) and take them back as fresh zeroed pages the next step, so page faults and page
// clearing showed as ~13% of a GPT-2 LoRA step in `perf` (bench/engine, docs/results/engine.md).
// keep_freed_memory() raises glibc's mmap and trim thresholds so freed blocks stay in the heap and
// are reused. VEIL_MALLOC=system leaves glibc's defaults (and GLIBC_TUNABLES) alone.
#pragma once

#include <string>

namespace veil::runtime {

// Applies the policy once per process (later calls do nothing); returns its description, e.g.
// "keep (mmap threshold 32 MB, trim threshold 1024 MB)" or "system".
std::string keep_freed_memory();

}  // namespace veil::runtime
