// veil generate: prints only the generated text to stdout, streamed.
#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>

#include "command.h"
#include "option_groups.h"
#include "option_lists.h"
#include "model_options.h"
#include "veil/designs/registry.h"
#include "veil/designs/obfuscatune/enclave_client.h"
#include "veil/model/generate.h"

namespace veil::cli {

Action add_generate(CLI::App& app, const CommonOptions&) {
  auto* cmd = app.add_subcommand("generate", "generate text (only the generated text goes to stdout)");
  struct Opts {
    std::string model, tokenizer, adapter, prompt;
    model::GenerationConfig gen;
    std::vector<std::int64_t> stop;
    bool no_eos_stop = false;
    std::string design;      // empty: the plain model in this process
    std::string he_workers;  // he-lora: --design he-lora [--opt k=v] [--workers a,b + TLS flags]
    std::vector<std::string> he_opts;
    train::PartyOptions he_parties;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--model", o->model, "HF model directory or llama2.c .bin (required unless --enclave)")
      ->envname("VEIL_MODEL");
  cmd->add_option("--tokenizer", o->tokenizer, "tokenizer (default: the model directory's)");
  cmd->add_option("--adapter", o->adapter, "PEFT LoRA adapter directory to apply");
  cmd->add_option("--prompt", o->prompt, "prompt text; empty starts from BOS");
  cmd->add_option("--max-new-tokens,-n", o->gen.max_new_tokens, "tokens to generate")->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--temperature,-t", o->gen.temperature, "0 = greedy")->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--top-k", o->gen.top_k, "keep the k most likely tokens (0 = off)")->check(CLI::Range(0, 1 << 24));
  cmd->add_option("--top-p", o->gen.top_p, "nucleus sampling mass (1 = off)")->check(CLI::Range(1e-6, 1.0));
  cmd->add_option("--seed", o->gen.seed, "sampling seed");
  cmd->add_option("--stop-token", o->stop, "token id that ends generation (repeatable; EOS by default)");
  cmd->add_flag("--ignore-eos", o->no_eos_stop, "do not stop at EOS");
  // he-lora: every base-weight product encrypted on workers, the KV cache with the data owner.
  auto* he = cmd->add_option_group("he-lora", "encrypted generation (--design he-lora; docs/designs/he-lora.md)");
  he->add_option("--design", o->design, "privacy design (he-lora: products on workers over encrypted activations)");
  he->add_option("--opt", o->he_opts, "he-lora option key=value (repeatable)");
  he->add_option("--workers", o->he_workers, "he-lora worker addresses host:port,host:port (default: in-process)");
  add_tls_options(*he, TlsTargets<std::filesystem::path>{&o->he_parties.tls_cert, &o->he_parties.tls_key, &o->he_parties.tls_ca, nullptr, &o->he_parties.insecure},
                  "the workers");  // --tls-server-name is in the obfuscatune group below
  // obfuscatune: projections on workers over obfuscated weights and activations (--opt, --workers
  // and the TLS flags above apply); with --enclave the attested enclave holds the model and only
  // text travels, sealed.
  auto* obf = cmd->add_option_group("obfuscatune", "obfuscated generation (--design obfuscatune; docs/designs/obfuscatune.md)");
  obf->add_option("--enclave", o->he_parties.enclave, "generate inside this attested enclave (host:port; --opt measurement=HEX)");
  obf->add_option("--tls-server-name", o->he_parties.tls_server_name, "name the enclave's or workers' certificates carry");
  auto enclave_opts = std::make_shared<std::map<std::string, std::string>>();  // flags standing for --opt keys
  obf->add_flag_function("--allow-simulated", [enclave_opts](std::int64_t n) { if (n > 0) (*enclave_opts)["allow-simulated"] = "1"; },
                         "--enclave: accept a SIMULATED attestation report (loud warning; docs/tee.md)");
  obf->add_option_function<std::string>("--attestation-key", [enclave_opts](const std::string& v) { (*enclave_opts)["attestation-key"] = v; },
                                        "--enclave: the simulated attester's pinned public key, hex or file");
  obf->add_option_function<std::string>("--session-key", [enclave_opts](const std::string& v) { (*enclave_opts)["session-key"] = v; },
                                        "--enclave: the data owner's session key (PEM; created when missing)");
  return [o, enclave_opts] {
    std::map<std::string, std::string> opts = parse_key_values(o->he_opts);
    if (!enclave_opts->empty() && o->he_parties.enclave.empty())
      throw std::invalid_argument("--allow-simulated, --attestation-key and --session-key need --enclave");
    for (const auto& [k, v] : *enclave_opts) opts[k] = v;
    for (auto& w : split_list(o->he_workers, "--workers")) o->he_parties.workers.push_back(std::move(w));
    VEIL_CHECK_ARG(!o->design.empty() || (opts.empty() && o->he_parties.workers.empty()), "--opt and --workers need --design");
    VEIL_CHECK_ARG(o->he_parties.enclave.empty() || o->design == "obfuscatune", "--enclave needs --design obfuscatune");
    if (!o->he_parties.enclave.empty()) {  // the enclave tokenizes, generates and detokenizes
      VEIL_CHECK_ARG(o->model.empty() && o->tokenizer.empty() && o->he_parties.workers.empty(),
                     "--model, --tokenizer and --workers cannot be used with --enclave: the enclave holds the model");
      designs::obfuscatune::EnclaveGenerate req{o->prompt, o->gen, !o->no_eos_stop};
      req.gen.stop_tokens = o->stop;
      auto e = designs::obfuscatune::connect_attested(o->he_parties, opts);
      std::printf("%s\n",
                  designs::obfuscatune::generate_in_enclave(*e.endpoint, e.report, *e.session_key, req, o->adapter).text.c_str());
      return 0;
    }
    VEIL_CHECK_ARG(!o->model.empty(), "--model is required");
    auto tok = tokenizer_for(o->model, o->tokenizer);
    // The design's generation entry point (DesignSpec::open_generation; no --design: the model here).
    designs::register_builtin_designs();
    std::optional<designs::GenerationModels> remote;
    if (!o->design.empty()) {
      auto spec = designs::find_design_spec(o->design);
      if (!spec || !spec->open_generation) {
        std::string names;
        for (const auto& s : designs::design_specs())
          if (s.open_generation) names += (names.empty() ? "" : ", ") + s.name;
        VEIL_CHECK_ARG(false, "--design '", o->design, "': veil generate supports ", names);
      }
      remote = spec->open_generation({o->model, {o->adapter}, opts, o->he_parties});
    }
    auto m = remote ? model::LoadedModel{} : model_with_adapter(o->model, o->adapter);
    const model::ModelConfig& model_config = remote ? remote->config : m.model->config();
    std::vector<std::int64_t> prompt;
    for (auto id : tok->encode(o->prompt, true)) prompt.push_back(id);
    if (prompt.empty()) {
      auto bos = tok->bos_id();
      VEIL_CHECK_ARG(bos.has_value(), "empty prompt and the tokenizer has no BOS token: give --prompt");
      prompt.push_back(*bos);
    }
    auto cfg = o->gen;
    cfg.stop_tokens = o->stop;
    if (!o->no_eos_stop && cfg.stop_tokens.empty()) {
      if (auto eos = tok->eos_id()) cfg.stop_tokens.push_back(*eos);
      for (auto e : model_config.eos_token_ids) cfg.stop_tokens.push_back(e);
    }
    tokenizer::StreamDecoder stream(*tok);
    auto print = [&](std::int64_t id) {
      auto text = stream.push(static_cast<tokenizer::TokenId>(id));
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
      return true;
    };
    if (remote) (void)remote->generators.front()(prompt, cfg, print);
    else (void)model::generate(*m.model, prompt, cfg, print);
    auto rest = stream.flush();
    std::fwrite(rest.data(), 1, rest.size(), stdout);
    std::fputc('\n', stdout);
    return 0;
  };
}

namespace {
const CommandRegistrar kRegistrar{30, add_generate};
}  // namespace

}  // namespace veil::cli
