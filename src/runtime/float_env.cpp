#include "veil/runtime/float_env.h"

#include <cstdlib>
#include <string_view>

#include <ATen/Context.h>
#include <ATen/Parallel.h>

namespace veil::runtime {

std::string flush_denormals() {
  const char* env = std::getenv("VEIL_DENORMALS");
  if (env && std::string_view(env) == "keep") {
    at::globalContext().setFlushDenormal(false);
    return "keep";
  }
  if (!at::globalContext().setFlushDenormal(true)) return "keep (not supported on this CPU)";
  // ATen's OpenMP backend runs chunk i of a parallel_for on thread i, so one chunk per thread
  // reaches every thread of the pool.
  const auto threads = at::get_num_threads();
  if (threads > 1) at::parallel_for(0, threads, 1, [](std::int64_t, std::int64_t) { at::globalContext().setFlushDenormal(true); });
  return "flush (FTZ+DAZ)";
}

}  // namespace veil::runtime
