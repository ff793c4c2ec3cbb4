// Thread settings for the two CPU pools libtorch uses here: OpenBLAS's own pool runs the GEMMs,
// ATen's OpenMP pool runs every other op. Giving both all cores oversubscribes them (measured on
// a 2-core machine: LoRA training on GPT-2-small ran at half the speed). The default therefore
// gives OpenBLAS every core and ATen one thread, the best of the settings measured by
// bench/engine; VEIL_BLAS_THREADS and VEIL_OMP_THREADS (or the CLI's --threads) override it.
#pragma once

#include <string>

namespace veil::runtime {

struct ThreadSettings {
  int blas = 0;  // 0: number of cores
  int omp = 0;   // 0: 1
};

// Applies `requested`, filled in from the environment and the defaults; returns what was applied.
ThreadSettings configure_threads(ThreadSettings requested = {});

// "blas=2 omp=1 (OpenBLAS 0.3.21)" — for logs and benchmark output.
[[nodiscard]] std::string describe_threads();

// For processes that wait on another party between their own GEMMs (a worker serving requests; an
// enclave or data owner calling remote workers): OpenBLAS's threads spin for 2^28 cycles after
// every GEMM by default, taking cores from the party computing on the same machine meanwhile.
// Measured with an obfuscatune enclave and worker on two cores: 2.08-2.18x plain per step with
// the default, 1.77-1.81x with OPENBLAS_THREAD_TIMEOUT=4 in the calling process (the worker's
// setting alone changed nothing). OpenBLAS reads the variable once, when it is loaded, so this
// sets it and re-executes the program (/proc/self/exe, same argv) once; it returns without doing
// anything when the variable is already set, and goes on as it is if re-execution fails.
void reexec_with_short_blas_spin(char** argv);

// Peak resident memory of this process in bytes (getrusage).
[[nodiscard]] long long peak_rss_bytes();

}  // namespace veil::runtime
