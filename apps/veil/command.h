// The `veil` CLI: each command registers itself on the app and returns its action.
// Shared options (threads, quiet) live in one table, options.cpp, with environment mirrors.
#pragma once

#include <functional>
#include <string>
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

// Environment mirrors (env_mirrors.cpp): every option of every command, registered or future, gets
// VEIL_<LONG_NAME> (--tls-cert -> VEIL_TLS_CERT) unless it names its own; call once after all
// commands are registered. Throws std::logic_error if a mirror would be a variable Veil reads for
// another purpose (VEIL_WIRE, VEIL_SHARED_DIR, ...).
std::string environment_name(const std::string& long_name);
void add_environment_mirrors(CLI::App& app);
// `message` (a parse error) plus which environment variable gave the offending value, if one did.
std::string explain_environment(CLI::App& app, const std::string& message, int argc, char** argv);

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
