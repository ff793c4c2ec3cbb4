// veil generate: prints only the generated text to stdout, streamed.
#include <cstdio>

#include "command.h"
#include "model_options.h"
#include "veil/model/generate.h"

namespace veil::cli {

Action add_generate(CLI::App& app, const CommonOptions&) {
  auto* cmd = app.add_subcommand("generate", "generate text (only the generated text goes to stdout)");
  struct Opts {
    std::string model, tokenizer, adapter, prompt;
    model::GenerationConfig gen;
    std::vector<std::int64_t> stop;
    bool no_eos_stop = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--model", o->model, "HF model directory or llama2.c .bin")->required()->envname("VEIL_MODEL");
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
  return [o] {
    auto tok = tokenizer_for(o->model, o->tokenizer);
    auto m = model_with_adapter(o->model, o->adapter);
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
      for (auto e : m.model->config().eos_token_ids) cfg.stop_tokens.push_back(e);
    }
    tokenizer::StreamDecoder stream(*tok);
    model::generate(*m.model, prompt, cfg, [&](std::int64_t id) {
      auto text = stream.push(static_cast<tokenizer::TokenId>(id));
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
      return true;
    });
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
