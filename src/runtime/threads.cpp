#include "veil/runtime/threads.h"

#include <dlfcn.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include <ATen/Parallel.h>

namespace veil::runtime {
namespace {

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  long n = std::strtol(v, &end, 10);
  return (end && *end == '\0' && n > 0 && n < 4096) ? static_cast<int>(n) : fallback;
}

using SetThreads = void (*)(int);
using GetThreads = int (*)();

int blas_threads_now() {
  if (auto f = reinterpret_cast<GetThreads>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"))) return f();
  return 1;
}

}  // namespace

ThreadSettings configure_threads(ThreadSettings s) {
  const int cores = static_cast<int>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
  if (s.blas <= 0) s.blas = env_int("VEIL_BLAS_THREADS", cores);
  if (s.omp <= 0) s.omp = env_int("VEIL_OMP_THREADS", 1);
  if (auto f = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) f(s.blas);
  at::set_num_threads(s.omp);
  return s;
}

std::string describe_threads() {
  std::string blas = dlsym(RTLD_DEFAULT, "openblas_set_num_threads") ? "OpenBLAS" : "reference BLAS (slow: install libopenblas0-pthread)";
  return "blas=" + std::to_string(blas_threads_now()) + " omp=" + std::to_string(at::get_num_threads()) + " (" + blas + ")";
}

void reexec_with_short_blas_spin(char** argv) {
  if (std::getenv("OPENBLAS_THREAD_TIMEOUT")) return;
  if (::setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1) != 0) return;
  ::execv("/proc/self/exe", argv);
}

long long peak_rss_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<long long>(u.ru_maxrss) * 1024;
}

}  // namespace veil::runtime
