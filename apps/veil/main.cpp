// veil: private fine-tuning and inference of language models. See `veil --help`.
#include <cstdio>
#include <exception>
#include <map>

#include <c10/util/Exception.h>

#include "command.h"
#include "veil/designs/registry.h"

int main(int argc, char** argv) {
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
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    apply_common_options(common);
    for (auto* sub : app.get_subcommands()) return actions.at(sub)();
    return 2;
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "veil: error: %s\n", e.what());
    return 2;
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "veil: error: %s\n", e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "veil: error: %s\n", e.what());
    return 1;
  }
}
