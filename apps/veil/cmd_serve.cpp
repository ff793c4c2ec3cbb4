// veil serve: an OpenAI-compatible HTTP server over a model and its adapters (src/serve/).
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "command.h"
#include "option_lists.h"
#include "model_options.h"
#include "veil/designs/registry.h"
#include "veil/model/causal_lm.h"
#include "veil/model/generate.h"
#include "veil/serve/engine.h"
#include "veil/serve/server.h"
#include "veil/util/file_io.h"

namespace veil::cli {
namespace {

struct ServeOpts {
  std::string model, tokenizer, name, chat_template, api_key_file, design, workers;
  std::vector<std::string> adapters, design_opts;
  serve::ServerOptions server;
  serve::RequestLimits limits;
  train::PartyOptions parties;  // the design's peers (workers), not the HTTP clients
};

std::string trimmed(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t k = 0;
  while (k < s.size() && std::isspace(static_cast<unsigned char>(s[k]))) ++k;
  return s.substr(k);
}

std::string read_text(const std::filesystem::path& p, const char* flag) {
  std::ifstream f(p, std::ios::binary);
  VEIL_CHECK_ARG(f.good(), flag, " ", p.string(), ": cannot read the file");
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string api_key(const ServeOpts& o) {
  const char* env = std::getenv("VEIL_API_KEY");
  VEIL_CHECK_ARG(o.api_key_file.empty() || !env || !*env, "give the API key in --api-key-file or VEIL_API_KEY, not both");
  std::string key;
  if (!o.api_key_file.empty()) {
    struct stat st {};
    if (stat(o.api_key_file.c_str(), &st) == 0 && (st.st_mode & S_IROTH))
      std::fprintf(stderr, "veil serve: warning: --api-key-file %s is readable by every user (chmod 600 it)\n", o.api_key_file.c_str());
    key = trimmed(read_text(o.api_key_file, "--api-key-file"));
    VEIL_CHECK_ARG(!key.empty(), "--api-key-file ", o.api_key_file, " is empty");
  } else if (env) {
    key = trimmed(env);
  }
  VEIL_CHECK_ARG(key.empty() || key.size() >= 16, "the API key must be at least 16 characters");
  for (char c : key) VEIL_CHECK_ARG(c > 0x20 && c < 0x7f, "the API key must be printable ASCII without spaces");
  return key;
}

// tokenizer_config.json's chat_template (a string, or a list of {name, template}: "default").
std::string chat_template_of(const std::filesystem::path& dir, std::string& where) {
  const auto path = dir / "tokenizer_config.json";
  where = path.string();
  if (!std::filesystem::exists(path)) return {};
  const auto j = nlohmann::json::parse(read_text(path, "tokenizer_config.json"), nullptr, false);
  VEIL_CHECK_ARG(!j.is_discarded() && j.is_object(), path.string(), ": not a JSON object");
  const auto it = j.find("chat_template");
  if (it == j.end() || it->is_null()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (it->is_array())
    for (const auto& t : *it)
      if (t.is_object() && t.value("name", "") == "default" && t.contains("template") && t["template"].is_string())
        return t["template"].get<std::string>();
  throw std::invalid_argument(util::cat(path.string(), ": chat_template must be a string or a list with a \"default\" entry"));
}

std::vector<serve::ServedModel> open_models(const ServeOpts& o, const std::vector<std::pair<std::string, std::string>>& names,
                                            model::ModelConfig& cfg) {
  const std::map<std::string, std::string> opts = parse_key_values(o.design_opts);
  // The design's generation entry point (DesignSpec::open_generation; no --design: plain).
  designs::register_builtin_designs();
  const std::string design = o.design.empty() ? designs::kDefaultGenerationDesign : o.design;
  auto spec = designs::find_design_spec(design);
  if (!spec || !spec->open_generation) {
    std::string supported;
    for (const auto& s : designs::design_specs())
      if (s.open_generation) supported += (supported.empty() ? "" : ", ") + s.name;
    throw std::invalid_argument(util::cat("--design '", o.design, "': veil serve supports ", supported));
  }
  designs::GenerationRequest request{o.model, {}, opts, o.parties};
  for (const auto& [name, dir] : names) request.adapters.emplace_back(dir);
  auto models = spec->open_generation(request);
  cfg = models.config;
  std::vector<serve::ServedModel> out;
  for (std::size_t i = 0; i < names.size(); ++i) out.push_back({names[i].first, models.generators[i]});
  return out;
}

int run_serve(ServeOpts& o) {
  VEIL_CHECK_ARG(!o.model.empty(), "--model is required");
  for (auto& w : split_list(o.workers, "--workers")) o.parties.workers.push_back(std::move(w));
  o.server.api_key = api_key(o);
  serve::check_server_options(o.server);  // before the model loads: fail fast
  std::vector<std::pair<std::string, std::string>> names;  // served name -> adapter dir ("" = base)
  std::string base = o.name.empty() ? std::filesystem::path(o.model).lexically_normal().filename().string() : o.name;
  if (base.empty()) base = std::filesystem::path(o.model).lexically_normal().parent_path().filename().string();
  names.emplace_back(base, "");
  for (const auto& a : o.adapters) {
    const auto eq = a.find('=');
    VEIL_CHECK_ARG(eq != std::string::npos && eq > 0 && eq + 1 < a.size(), "--adapter '", a, "': expected NAME=DIR");
    names.emplace_back(a.substr(0, eq), a.substr(eq + 1));
  }
  std::shared_ptr<const tokenizer::Tokenizer> tok = tokenizer_for(o.model, o.tokenizer);
  serve::EngineConfig ecfg;
  ecfg.limits = o.limits;
  if (!o.chat_template.empty()) {
    ecfg.chat_template = read_text(o.chat_template, "--chat-template");
    ecfg.template_name = o.chat_template;
  } else {
    const auto dir = o.tokenizer.empty() ? std::filesystem::path(o.model) : std::filesystem::path(o.tokenizer);
    if (std::filesystem::is_directory(dir)) ecfg.chat_template = chat_template_of(dir, ecfg.template_name);
    else ecfg.template_name = dir.string();
  }
  if (auto b = tok->bos_id()) ecfg.bos_token = tok->id_to_token(*b);
  if (auto e = tok->eos_id()) ecfg.eos_token = tok->id_to_token(*e), ecfg.stop_tokens.push_back(*e);
  model::ModelConfig mcfg;
  auto models = open_models(o, names, mcfg);
  for (auto e : mcfg.eos_token_ids) ecfg.stop_tokens.push_back(e);
  ecfg.context_length = mcfg.max_position_embeddings;
  serve::Engine engine(tok, std::move(models), ecfg);
  if (!engine.template_error().empty()) std::fprintf(stderr, "veil serve: chat completions unavailable: %s\n", engine.template_error().c_str());
  serve::HttpServer server(o.server, engine);
  std::fprintf(stderr, "veil serve: listening on %s://%s:%d (models:", o.server.insecure ? "http" : "https", o.server.host.c_str(), server.port());
  for (const auto& m : engine.models()) std::fprintf(stderr, " %s", m.name.c_str());
  std::fprintf(stderr, "; design %s; queue %zu)\n", o.design.empty() ? designs::kDefaultGenerationDesign : o.design.c_str(), o.server.max_queue);
  server.run_until_signal("veil serve");
  std::fprintf(stderr, "veil serve: stopped\n");
  return 0;
}

Action add_serve(CLI::App& app, const CommonOptions&) {
  auto* cmd = app.add_subcommand("serve", "serve a model over an OpenAI-compatible HTTP API (docs/serve.md)");
  auto o = std::make_shared<ServeOpts>();
  cmd->add_option("--model", o->model, "HF model directory or llama2.c .bin")->envname("VEIL_MODEL");
  cmd->add_option("--tokenizer", o->tokenizer, "tokenizer (default: the model directory's)");
  cmd->add_option("--name", o->name, "name the base model is served under (default: the model directory's name)");
  cmd->add_option("--adapter", o->adapters, "serve a PEFT LoRA adapter as model NAME (NAME=DIR, repeatable)");
  cmd->add_option("--chat-template", o->chat_template, "Jinja chat template file (default: tokenizer_config.json's)");
  cmd->add_option("--host", o->server.host, "address to listen on")->envname("VEIL_SERVE_HOST");
  cmd->add_option("--port", o->server.port, "port (0: any free port, printed on stderr)")->check(CLI::Range(0, 65535))->envname("VEIL_SERVE_PORT");
  cmd->add_option("--tls-cert", o->server.tls_cert, "the server's TLS certificate chain (PEM)");
  cmd->add_option("--tls-key", o->server.tls_key, "the server's TLS private key (PEM)");
  cmd->add_option("--tls-ca", o->server.tls_ca, "require client certificates signed by this CA (mutual TLS)");
  cmd->add_flag("--insecure", o->server.insecure, "plain HTTP (numeric loopback --host only)");
  cmd->add_option("--api-key-file", o->api_key_file, "file holding the API key clients send as 'Authorization: Bearer' (or set VEIL_API_KEY)");
  cmd->add_option("--max-queue", o->server.max_queue, "requests that may wait besides the one generating (more get 429)")->check(CLI::Range(1, 4096));
  cmd->add_option("--max-body-bytes", o->server.max_body_bytes, "largest request body (more get 413)")->check(CLI::Range(1024, 64 << 20));
  cmd->add_option("--max-tokens", o->limits.max_tokens, "largest max_tokens a request may ask for")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--max-prompt-bytes", o->limits.max_prompt_bytes, "largest prompt (all messages together)")->check(CLI::Range(1, 16 << 20));
  auto* d = cmd->add_option_group("design", "where generation runs (docs/serve.md: privacy per design)");
  d->add_option("--design", o->design, "plain (default), he-lora or obfuscatune (enclave in this process)");
  d->add_option("--opt", o->design_opts, "design option key=value (repeatable)");
  d->add_option("--workers", o->workers, "the design's workers host:port,host:port (default: in-process)");
  d->add_option("--peer-tls-cert", o->parties.tls_cert, "this party's certificate towards the workers (PEM)");
  d->add_option("--peer-tls-key", o->parties.tls_key, "its private key (PEM)");
  d->add_option("--peer-tls-ca", o->parties.tls_ca, "CA that signs the workers (PEM)");
  d->add_option("--peer-tls-server-name", o->parties.tls_server_name, "name the workers' certificates carry");
  d->add_flag("--peer-insecure", o->parties.insecure, "no TLS towards the workers (loopback only)");
  d->add_option("--audit-dir", o->parties.audit_dir, "in-process workers record what they saw here");
  return [o] { return run_serve(*o); };
}

const CommandRegistrar kRegistrar{35, add_serve};

}  // namespace
}  // namespace veil::cli
