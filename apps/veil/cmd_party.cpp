// veil party: one command per party from a configuration file (docs/deploy.md). The file's keys are
// the long option names of the command the party's role runs, so the file is turned into that
// command's argument list and checked by the very same CLI11 parser; running it re-executes
// /proc/self/exe with those arguments, so a party started from a file behaves exactly like one
// started by hand.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>

#include "command.h"
#include "veil/config/party_file.h"
#include "veil/transport/serve.h"
#include "veil/util/check.h"

namespace veil::cli {
namespace {

using config::Entry;
using config::PartyFile;
using config::Position;
using config::Value;

// Keys holding paths: relative ones resolve against the file's directory. Inputs must exist.
const std::set<std::string> kInputPaths = {"model",       "tokenizer",       "data",        "val-data",
                                           "adapter",     "tls-cert",        "tls-key",     "tls-ca",
                                           "signing-key", "model-owner-key", "attestation-key"};
const std::set<std::string> kOutputPaths = {"out", "audit-dir", "attestation-key-out", "session-key", "scratch"};
// Keys whose values are HOST:PORT addresses (a comma list or a TOML array for workers).
const std::set<std::string> kAddresses = {"listen", "workers", "enclave"};

struct Role {
  std::string name, summary;
  std::vector<std::vector<std::string>> commands;  // each: the command path, e.g. {"provider", "seal"}
  std::vector<std::string> sections;               // data-owner: [finetune] and [generate]
};

const std::vector<Role>& roles() {
  static const std::vector<Role> r = {
      {"data-owner", "the data owner: fine-tunes on its data and/or generates ([finetune], [generate])", {}, {"finetune", "generate"}},
      {"worker", "an untrusted compute worker (veil worker)", {{"worker"}}, {}},
      {"enclave", "the obfuscatune enclave (veil enclave)", {{"enclave"}}, {}},
      {"model-owner", "the model owner: seals its model to an attested enclave (veil provider seal)", {{"provider", "seal"}}, {}},
  };
  return r;
}

// A fresh copy of the CLI with every command registered, to look options up and parse with.
struct Cli {
  CommonOptions common;
  CLI::App app{"veil"};
  std::vector<Action> actions;  // never run: they own the variables the options write to
  Cli() {
    app.fallthrough();
    add_common_options(app, common);
    for (const auto& c : registered_commands()) actions.push_back(c.adder(app, common));
    add_environment_mirrors(app);
  }
  Cli(const Cli&) = delete;
  Cli& operator=(const Cli&) = delete;
  CLI::App* command(const std::vector<std::string>& path) {
    CLI::App* a = &app;
    for (const auto& p : path) a = a->get_subcommand(p);
    return a;
  }
};

struct Plan {
  std::vector<std::string> command;  // {"finetune"}
  std::vector<std::string> args;     // --key=value ...
  std::vector<std::pair<std::string, Position>> keys;  // key -> where in the file, for errors
  std::set<std::string> given;
};

struct Checker {
  const PartyFile& file;
  std::vector<std::string> errors;
  void error(Position at, const std::string& message) { errors.push_back(config::where(file.path, at) + ": " + message); }
};

CLI::Option* find_option(CLI::App& app, CLI::App* cmd, const std::string& key) {
  if (key.empty() || key.find_first_of("=, \t") != std::string::npos || key == "help" || key == "help-all" || key == "version")
    return nullptr;
  if (auto* o = cmd->get_option_no_throw("--" + key)) return o;
  if (auto* o = app.get_option_no_throw("--" + key); o && o != app.get_version_ptr()) return o;  // --quiet, threads
  return nullptr;
}

bool is_hex(const std::string& s) {
  return s.size() >= 32 && s.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos;
}

std::string resolve(const PartyFile& f, const std::string& key, const std::string& v) {
  if (v.empty() || (key == "attestation-key" && is_hex(v))) return v;
  const std::filesystem::path p(v);
  return (p.is_absolute() ? p : std::filesystem::absolute(f.dir / p)).lexically_normal().string();
}

// Appends the arguments one key stands for; records type errors.
void add_key(Checker& c, Plan& plan, CLI::Option& opt, const Entry& e, const std::string& cmd_name) {
  const Value& v = e.value;
  const std::string flag = "--" + e.key;
  const bool is_flag = opt.get_expected_max() == 0;
  const bool multi = opt.get_items_expected_max() > 1;
  auto scalar_text = [&](const Value& s) { return kInputPaths.count(e.key) || kOutputPaths.count(e.key) ? resolve(c.file, e.key, s.text) : s.text; };
  if (is_flag) {
    if (v.kind != Value::Kind::kBool) return c.error(e.at, "key '" + e.key + "' is a flag of `veil " + cmd_name + "`: write true or false, not " + v.kind_name());
    plan.args.push_back(v.text == "true" ? flag : flag + "=false");
  } else if (v.kind == Value::Kind::kBool) {
    return c.error(e.at, "key '" + e.key + "' takes a value, not true/false");
  } else if (v.kind == Value::Kind::kTable) {
    if (e.key != "opt") return c.error(e.at, "key '" + e.key + "': a table is only meaningful for 'opt' (design options)");
    for (std::size_t i = 0; i < v.items.size(); ++i) {
      const auto& k = v.keys[i];
      if (!v.items[i].scalar()) return c.error(v.items[i].at, "opt." + k + ": expected a string, number or true/false");
      plan.args.push_back(flag + "=" + k + "=" + v.items[i].text);
    }
  } else if (v.kind == Value::Kind::kArray) {
    std::string joined;
    for (const auto& item : v.items) {
      if (!item.scalar()) return c.error(item.at, "key '" + e.key + "': expected an array of strings or numbers");
      if (multi) plan.args.push_back(flag + "=" + scalar_text(item));
      joined += (joined.empty() ? "" : ",") + scalar_text(item);
    }
    if (!multi) plan.args.push_back(flag + "=" + joined);
  } else {
    plan.args.push_back(flag + "=" + scalar_text(v));
  }
  plan.keys.emplace_back(e.key, e.at);
  plan.given.insert(e.key);
}

// Files that must exist, addresses that must parse.
void check_values(Checker& c, const std::vector<const Entry*>& entries, const std::set<std::string>& produced) {
  for (const Entry* e : entries) {
    std::vector<const Value*> values{&e->value};
    if (e->value.kind == Value::Kind::kArray || e->value.kind == Value::Kind::kTable) {
      values.clear();
      for (const auto& i : e->value.items) values.push_back(&i);
    }
    for (const Value* v : values) {
      if (!v->scalar() || v->text.empty()) continue;
      if (kInputPaths.count(e->key) && !(e->key == "attestation-key" && is_hex(v->text))) {
        const auto path = resolve(c.file, e->key, v->text);
        if (!std::filesystem::exists(path) && !produced.count(path))
          c.error(v->at, "key '" + e->key + "': " + path + " does not exist");
      }
      if (kAddresses.count(e->key)) {
        std::string list = v->text;
        for (std::size_t pos = 0; pos <= list.size();) {
          const auto comma = std::min(list.find(',', pos), list.size());
          const auto item = list.substr(pos, comma - pos);
          try {
            (void)transport::parse_address(item);
          } catch (const std::exception& ex) {
            c.error(v->at, "key '" + e->key + "': '" + item + "' is not HOST:PORT (" + ex.what() + ")");
          }
          pos = comma + 1;
        }
      }
    }
  }
}

std::string join_command(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) {
    const bool plain = !a.empty() && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=.,/:@+") == std::string::npos;
    std::string q = a;
    if (!plain) {
      q = "'";
      for (char ch : a) q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
      q += "'";
    }
    s += (s.empty() ? "" : " ") + q;
  }
  return s;
}

// Runs the same parser the command line goes through; maps its first error back to a key.
void parse_like_the_cli(Checker& c, Plan& plan) {
  std::vector<std::string> args = plan.args;
  std::set<std::string> reported;
  for (int attempt = 0; attempt < 64; ++attempt) {
    Cli cli;
    std::vector<std::string> argv{"veil"};
    argv.insert(argv.end(), plan.command.begin(), plan.command.end());
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<std::string> reversed(argv.rbegin(), argv.rend() - 1);  // CLI11 takes them reversed, without argv[0]
    try {
      cli.app.parse(reversed);
      return;
    } catch (const CLI::CallForHelp&) {
      return;
    } catch (const CLI::ParseError& e) {
      const std::string msg = e.what();
      bool mapped = false;
      for (const auto& [key, at] : plan.keys) {
        const std::string flag = "--" + key;
        const auto pos = msg.find(flag);
        if (pos == std::string::npos) continue;
        const auto end = pos + flag.size();
        if (end < msg.size() && (std::isalnum(static_cast<unsigned char>(msg[end])) || msg[end] == '-')) continue;
        if (!reported.insert(key).second) return;  // its removal caused this one
        c.error(at, "key '" + key + "': " + msg);
        std::erase_if(args, [&](const std::string& a) { return a == flag || a.starts_with(flag + "="); });
        mapped = true;  // look for further errors without this key
        break;
      }
      if (mapped) continue;
      std::string env_note;
      for (const auto* o : cli.command(plan.command)->get_options()) {
        const auto env = o->get_envname();
        const char* v = env.empty() || o->get_lnames().empty() ? nullptr : std::getenv(env.c_str());
        if (v && *v && msg.find("--" + o->get_lnames().front()) != std::string::npos)
          env_note = " (from the environment variable " + env + ")";
      }
      c.error({}, "`veil " + join_command(plan.command) + "`: " + msg + env_note +
                      (dynamic_cast<const CLI::RequiredError*>(&e) ? " (add the key to the file)" : ""));
      return;
    }
  }
}

struct Flags {
  std::string config, check;
};

std::vector<Plan> plan_party(const PartyFile& f, Checker& c) {
  const Role* role = nullptr;
  for (const auto& r : roles())
    if (r.name == f.role) role = &r;
  if (!role) {
    c.error(f.role_at, "role '" + f.role + "': expected data-owner, worker, enclave or model-owner");
    return {};
  }
  std::vector<std::vector<std::string>> commands = role->commands;
  for (std::size_t i = 1; i < f.sections.size(); ++i) {
    const auto& s = f.sections[i];
    if (std::find(role->sections.begin(), role->sections.end(), s.name) == role->sections.end()) {
      c.error(s.at, "section [" + s.name + "]: role " + role->name +
                        (role->sections.empty() ? " takes its keys at the top level, without sections"
                                                : " has sections [finetune] and [generate] only"));
      continue;
    }
    commands.push_back({s.name});
  }
  if (commands.empty()) {
    c.error(f.role_at, "role data-owner: add a [finetune] and/or a [generate] section saying what to run");
    return {};
  }
  Cli cli;
  std::vector<Plan> plans;
  std::set<std::string> produced;  // outputs of earlier commands (generate's adapter = finetune's out)
  std::vector<bool> top_used(f.sections[0].entries.size(), false);
  for (const auto& command : commands) {
    Plan plan;
    plan.command = command;
    const std::string name = join_command(command);
    CLI::App* cmd = cli.command(command);
    std::vector<const Entry*> entries;
    for (std::size_t i = 0; i < f.sections[0].entries.size(); ++i) {
      const auto& e = f.sections[0].entries[i];
      if (auto* opt = find_option(cli.app, cmd, e.key)) {
        top_used[i] = true;
        bool overridden = false;  // a section's own value wins over the top level's
        for (const auto& s : f.sections)
          if (s.name == command.back())
            for (const auto& se : s.entries) overridden = overridden || se.key == e.key;
        if (!overridden) {
          add_key(c, plan, *opt, e, name);
          entries.push_back(&e);
        }
      }
    }
    for (const auto& s : f.sections) {
      if (s.name.empty() || s.name != command.back()) continue;
      for (const auto& e : s.entries) {
        auto* opt = find_option(cli.app, cmd, e.key);
        if (!opt) {
          c.error(e.at, "key '" + e.key + "' in [" + s.name + "]: `veil " + name + "` has no option --" + e.key);
          continue;
        }
        add_key(c, plan, *opt, e, name);
        entries.push_back(&e);
      }
    }
    check_values(c, entries, produced);
    for (const Entry* e : entries)
      if (e->key == "out" && e->value.scalar()) produced.insert(resolve(f, "out", e->value.text));
    plans.push_back(std::move(plan));
  }
  for (std::size_t i = 0; i < top_used.size(); ++i)
    if (!top_used[i]) {
      std::string names;
      for (const auto& cmd : commands) names += (names.empty() ? "`veil " : " or `veil ") + join_command(cmd) + "`";
      const auto& e = f.sections[0].entries[i];
      c.error(e.at, "key '" + e.key + "': " + names + " has no option --" + e.key);
    }
  if (c.errors.empty())
    for (auto& p : plans) parse_like_the_cli(c, p);
  return plans;
}

std::vector<std::string> argv_of(const Plan& p) {
  std::vector<std::string> argv{"veil"};
  argv.insert(argv.end(), p.command.begin(), p.command.end());
  argv.insert(argv.end(), p.args.begin(), p.args.end());
  return argv;
}

// Environment mirrors that would fill options the file leaves out (names only: values may be secret).
std::string environment_used(const Plan& p) {
  Cli cli;
  CLI::App* cmd = cli.command(p.command);
  std::string s;
  auto scan = [&](CLI::App& a, auto& self) -> void {
    for (CLI::Option* o : a.get_options()) {
      const auto env = o->get_envname();
      if (env.empty() || o->get_lnames().empty() || p.given.count(o->get_lnames().front())) continue;
      if (const char* v = std::getenv(env.c_str()); v && *v) s += (s.empty() ? "" : ", ") + env;
    }
    for (CLI::App* sub : a.get_subcommands([](CLI::App*) { return true; }))
      if (sub->get_name().empty()) self(*sub, self);
  };
  scan(*cmd, scan);
  scan(cli.app, scan);
  return s;
}

volatile sig_atomic_t g_child = 0;  // the running command, for forwarding SIGTERM/SIGINT
void forward_signal(int sig) {
  if (g_child > 0) ::kill(g_child, sig);
}

int exec_veil(const std::vector<std::string>& argv, bool replace) {
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  std::fflush(nullptr);
  if (replace) {
    ::execv("/proc/self/exe", cargv.data());
    throw std::runtime_error(std::string("cannot re-execute veil: ") + std::strerror(errno));
  }
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::execv("/proc/self/exe", cargv.data());
    std::_Exit(127);
  }
  g_child = pid;
  ::signal(SIGTERM, forward_signal);
  ::signal(SIGINT, forward_signal);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  g_child = 0;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

int run_party(const Flags& flags) {
  VEIL_CHECK_ARG(flags.config.empty() != flags.check.empty(), "give either --config FILE (start the party) or --check FILE (validate only)");
  const bool check_only = !flags.check.empty();
  const PartyFile f = config::load_party_file(check_only ? flags.check : flags.config);
  Checker c{f, {}};
  const auto plans = plan_party(f, c);
  if (!c.errors.empty()) {
    std::string msg = f.path.string() + ": " + std::to_string(c.errors.size()) + (c.errors.size() == 1 ? " problem" : " problems");
    for (const auto& e : c.errors) msg += "\n  " + e;
    throw std::invalid_argument(msg);
  }
  std::string summary;
  for (const auto& r : roles())
    if (r.name == f.role) summary = r.summary;
  std::FILE* out = check_only ? stdout : stderr;
  std::fprintf(out, "veil party: %s: role %s, %s\n", f.path.string().c_str(), f.role.c_str(), summary.c_str());
  for (const auto& p : plans) {
    std::fprintf(out, "  %s %s\n", check_only ? "would run:" : "running:", join_command(argv_of(p)).c_str());
    if (const auto env = environment_used(p); !env.empty())
      std::fprintf(out, "    also from the environment: %s\n", env.c_str());
  }
  if (check_only) {
    std::printf("veil party: %s is valid\n", f.path.string().c_str());
    return 0;
  }
  for (std::size_t i = 0; i < plans.size(); ++i) {
    const int rc = exec_veil(argv_of(plans[i]), plans.size() == 1);
    if (rc != 0) return rc;
  }
  return 0;
}

Action add_party(CLI::App& app, const CommonOptions&) {
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("party", "start one party (data owner, worker, enclave or model owner) from a TOML "
                                          "configuration file whose keys are the command's flags (docs/deploy.md)");
  cmd->add_option("--config", f->config, "start the party this file describes");
  cmd->add_option("--check", f->check, "validate this file (keys, types, required keys, files, addresses) and print the "
                                       "command it would run, without starting anything");
  return [f] { return run_party(*f); };
}

const CommandRegistrar kRegistrar{90, add_party};

}  // namespace
}  // namespace veil::cli
