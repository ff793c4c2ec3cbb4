#include "veil/runtime/allocator.h"

#include <cstdlib>
#include <mutex>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace veil::runtime {

std::string keep_freed_memory() {
  static std::once_flag once;
  static std::string applied = "system";
  std::call_once(once, [] {
    const char* env = std::getenv("VEIL_MALLOC");
    if (env && std::string(env) == "system") return;
#if defined(__GLIBC__)
    // 32 MB is glibc's largest mmap threshold on 64-bit (HEAP_MAX_SIZE / 2); blocks above it
    // (model weights, a whole LM head's logits) are still mapped, and live for the whole run.
    constexpr int kMmapThreshold = 32 << 20;
    constexpr int kTrimThreshold = 1 << 30;
    if (mallopt(M_MMAP_THRESHOLD, kMmapThreshold) == 1 && mallopt(M_TRIM_THRESHOLD, kTrimThreshold) == 1)
      applied = "keep (mmap threshold 32 MB, trim threshold 1024 MB)";
#endif
  });
  return applied;
}

}  // namespace veil::runtime
