#include <algorithm>

#include "veil/runtime/allocator.h"
#include "veil/runtime/float_env.h"
#include "veil/runtime/threads.h"
#include "command.h"

namespace veil::cli {

void add_common_options(CLI::App& app, CommonOptions& o) {
  app.add_option("--blas-threads", o.blas_threads, "threads for GEMMs (OpenBLAS); default: all cores")
      ->envname("VEIL_BLAS_THREADS")
      ->check(CLI::Range(1, 1024));
  app.add_option("--omp-threads", o.omp_threads, "threads for other tensor ops (OpenMP); default: 1")
      ->envname("VEIL_OMP_THREADS")
      ->check(CLI::Range(1, 1024));
  app.add_flag("-q,--quiet", o.quiet, "no progress display")->envname("VEIL_QUIET");
}

void apply_common_options(const CommonOptions& o) {
  runtime::configure_threads({o.blas_threads, o.omp_threads});
  (void)runtime::keep_freed_memory();
  (void)runtime::flush_denormals();  // VEIL_DENORMALS=keep: IEEE gradual underflow
}

namespace {
std::vector<RegisteredCommand>& command_table() {
  static std::vector<RegisteredCommand> table;
  return table;
}
}  // namespace

CommandRegistrar::CommandRegistrar(int order, Adder adder) {
  auto& t = command_table();
  t.push_back({order, adder});
  std::stable_sort(t.begin(), t.end(), [](const auto& a, const auto& b) { return a.order < b.order; });
}

const std::vector<RegisteredCommand>& registered_commands() { return command_table(); }

}  // namespace veil::cli
