// veil: private fine-tuning and inference of language models. See `veil --help`.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <stdexcept>
#include <string_view>

#include <c10/util/Exception.h>

#include "command.h"
#include "veil/designs/registry.h"
#include "veil/runtime/threads.h"
#include "veil/transport/errors.h"

namespace {

constexpr int kExitUsage = 2;  // bad flags, files or data
constexpr int kExitPeer = 3;   // another party failed, refused or could not be reached

// Parties that wait on another party between their own GEMMs: `veil worker` and `veil enclave`,
// and any command given remote workers or an enclave. OpenBLAS threads that spin while the other
// party computes on the same cores cost an obfuscatune step 15% (runtime/threads.h).
bool waits_on_other_parties(int argc, char** argv) {
  if (argc < 2) return false;
  const std::string_view command = argv[1];
  if (command == "worker" || command == "enclave") return true;
  for (int i = 2; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--workers" || a.starts_with("--workers=") || a == "--enclave" || a.starts_with("--enclave=")) return true;
  }
  for (const char* env : {"VEIL_WORKERS", "VEIL_ENCLAVE"})  // their environment mirrors
    if (const char* v = std::getenv(env); v && *v) return true;
  return false;
}

// `veil evaluate` became `veil compare` (not to be confused with `veil eval`); the old name is an
// alias of the command, and this tells whether it was the one typed.
bool used_old_compare_name(CLI::App& app, int argc, char** argv) {
  if (app.get_subcommands().empty() || app.get_subcommands().front()->get_name() != "compare") return false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "compare") return false;
    if (a == "evaluate") return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  if (waits_on_other_parties(argc, argv)) veil::runtime::reexec_with_short_blas_spin(argv);
  using namespace veil::cli;
  veil::designs::register_builtin_designs();  // before commands list the designs in --help
  CLI::App app{"veil: LoRA fine-tuning and inference of language models on data that must stay private"};
  app.require_subcommand(1);
  app.fallthrough();  // shared options may follow the command name
  app.set_version_flag("--version", "veil 0.1.0");
  CommonOptions common;
  add_common_options(app, common);
  std::map<CLI::App*, Action> actions;
  auto add = [&](Adder adder) {
    Action a = adder(app, common);
    auto after = app.get_subcommands({});
    actions[after.back()] = std::move(a);
  };
  for (const auto& c : registered_commands()) add(c.adder);
  try {
    add_environment_mirrors(app);  // VEIL_<OPTION> for every option of every command
  } catch (const std::logic_error& e) {  // an option named like a variable with another meaning
    std::fprintf(stderr, "veil: internal error: %s\n", e.what());
    return 1;
  }
  // Exit codes (README.md, "The CLI"): 0 success, 2 usage or bad input (flags, files, data), 3 another
  // party failed or could not be reached (network, TLS, a peer's refusal), 1 anything else.
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "veil: error: %s\nRun with --help for more information.\n",
                 explain_environment(app, e.what(), argc, argv).c_str());
    return kExitUsage;
  }
  if (used_old_compare_name(app, argc, argv))
    std::fprintf(stderr, "veil: notice: `veil evaluate` is now `veil compare` (the old name still works)\n");
  try {
    apply_common_options(common);
    for (auto* sub : app.get_subcommands()) return actions.at(sub)();
    return kExitUsage;
  } catch (const veil::transport::TransportError& e) {
    std::fprintf(stderr, "veil: error: %s\n", e.what());
    return kExitPeer;
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "veil: error: %s\n", e.what());
    return kExitUsage;
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "veil: error: %s\n", e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "veil: error: %s\n", e.what());
    return 1;
  }
}
