// The environment mirror of every option: after all commands have registered, each option without
// an environment name gets VEIL_<LONG_NAME> (--tls-cert -> VEIL_TLS_CERT), so one rule covers every
// command, present and future. Precedence: command line, then environment, then the default.
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <set>
#include <stdexcept>
#include <string_view>

#include "command.h"

namespace veil::cli {
namespace {

// Environment variables Veil reads for other purposes (build, tests, runtime knobs): no option may
// mirror one of these, or setting them would silently turn into a flag value.
const std::set<std::string>& reserved_names() {
  static const std::set<std::string> names = {
      "VEIL_SHARED_DIR",  "VEIL_BINARY_DIR", "VEIL_BINARY",       "VEIL_SOURCE_DIR",  "VEIL_WIRE",
      "VEIL_DENORMALS",   "VEIL_MALLOC",     "VEIL_HE_GEMM",      "VEIL_HE_SCALAR_NTT", "VEIL_HE_THREADS",
      "VEIL_JOBS",        "VEIL_GM",         "VEIL_CHROMIUM",     "VEIL_EVAL_OUT",    "VEIL_DEMO_MODEL",
      "VEIL_DEMO_PROMPT", "VEIL_FUZZ_SECONDS", "VEIL_SKIP_FUZZ",  "VEIL_TEST_DATA_DIR", "VEIL_OBF_OLD",
      "VEIL_BENCH_PYTORCH_SCRIPT", "VEIL_API_KEY", "VEIL_DEBUG_GROUPS"};
  return names;
}

bool skipped(const CLI::App& app, const CLI::Option* opt) {
  return opt == app.get_help_ptr() || opt == app.get_help_all_ptr() || opt == app.get_version_ptr() ||
         opt->get_lnames().empty();
}

void mirror(CLI::App& app, const std::string& where) {
  for (CLI::Option* opt : app.get_options()) {
    if (skipped(app, opt)) continue;
    if (opt->get_envname().empty()) opt->envname(environment_name(opt->get_lnames().front()));
    if (reserved_names().count(opt->get_envname()))
      throw std::logic_error("option --" + opt->get_lnames().front() + " of `" + where + "` would mirror " +
                             opt->get_envname() + ", which Veil reads for another purpose: rename the option");
  }
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    if (sub->get_name().empty()) {  // an option group: its options belong to `app`
      mirror(*sub, where);
      continue;
    }
    // Read a command's environment only when that command runs (CLI11 otherwise fills and validates
    // the mirrors of every command, so VEIL_MODEL would be checked by commands nobody called).
    sub->parse_complete_callback([] {});
    mirror(*sub, where + " " + sub->get_name());
  }
}

void collect(CLI::App& app, std::vector<const CLI::Option*>& out) {
  for (CLI::Option* opt : app.get_options()) out.push_back(opt);
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
    if (sub->get_name().empty() || sub->parsed() > 0) collect(*sub, out);
}

bool given_on_command_line(const CLI::Option* opt, int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    for (const auto& n : opt->get_lnames())
      if (a == "--" + n || a.starts_with("--" + n + "=")) return true;
    for (const auto& n : opt->get_snames())
      if (a.size() >= 2 && a[0] == '-' && a[1] == n[0]) return true;
  }
  return false;
}

}  // namespace

std::string environment_name(const std::string& long_name) {
  std::string env = "VEIL_";
  for (char ch : long_name) env += ch == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return env;
}

void add_environment_mirrors(CLI::App& app) { mirror(app, "veil"); }

std::string explain_environment(CLI::App& app, const std::string& message, int argc, char** argv) {
  std::vector<const CLI::Option*> options;
  collect(app, options);
  for (const auto* opt : options) {
    const std::string env = opt->get_envname();
    const char* value = env.empty() ? nullptr : std::getenv(env.c_str());
    if (!value || !*value || opt->get_lnames().empty()) continue;
    const std::string name = "--" + opt->get_lnames().front();
    const auto at = message.find(name);
    if (at == std::string::npos) continue;
    const auto end = at + name.size();
    if (end < message.size() && (std::isalnum(static_cast<unsigned char>(message[end])) || message[end] == '-')) continue;
    if (given_on_command_line(opt, argc, argv)) continue;
    return message + " (from the environment: " + env + "='" + value + "')";
  }
  return message;
}

}  // namespace veil::cli
