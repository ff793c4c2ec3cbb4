// The `veil` CLI: each command registers itself on the app and returns its action.
// Shared options (threads, quiet) live in one table, options.cpp, with environment mirrors.
#pragma once

#include <functional>
#include <vector>

#include <CLI/CLI.hpp>

namespace veil::transport {
class Server;
}

namespace veil::cli {

using Action = std::function<int()>;

// Options every command understands.
struct CommonOptions {
  int blas_threads = 0;  // VEIL_BLAS_THREADS
  int omp_threads = 0;   // VEIL_OMP_THREADS
  bool quiet = false;    // VEIL_QUIET: no progress display
};
void add_common_options(CLI::App& app, CommonOptions& opts);
void apply_common_options(const CommonOptions& opts);

// Blocks until SIGTERM or SIGINT, then shuts `server` down gracefully (calls in flight finish).
// `who` prefixes the message ("veil worker").
void serve_until_signal(transport::Server& server, const char* who);

// Each command file registers its adder at static-initialisation time (the files are linked into
// the executable directly, so nothing is dropped), with an order for `veil --help`:
//
//   static const CommandRegistrar kRegistrar{40, add_finetune};
using Adder = Action (*)(CLI::App& app, const CommonOptions& common);
struct CommandRegistrar {
  CommandRegistrar(int order, Adder adder);
};
struct RegisteredCommand {
  int order;
  Adder adder;
};
[[nodiscard]] const std::vector<RegisteredCommand>& registered_commands();  // sorted by order

}  // namespace veil::cli
