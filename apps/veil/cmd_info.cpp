// veil info: what a model (and its tokenizer) is.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "command.h"
#include "veil/model/loader.h"
#include "veil/runtime/threads.h"
#include "veil/tokenizer/tokenizer.h"

namespace veil::cli {

Action add_info(CLI::App& app, const CommonOptions&) {
  auto* cmd = app.add_subcommand("info", "describe a model: architecture, sizes, parameters, tokenizer");
  auto model = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  cmd->add_option("--model,model", *model, "HF model directory or llama2.c .bin")->required();
  cmd->add_flag("--json", *as_json, "print JSON");
  return [=] {
    auto files = model::read_model(*model);
    const auto& c = files.config;
    nlohmann::json j = c.to_json();
    j["family"] = model::family_name(c.family);
    j["parameters"] = c.num_parameters();
    j["threads"] = runtime::describe_threads();
    std::filesystem::path dir(*model);
    if (std::filesystem::is_directory(dir)) {
      try {
        auto tok = tokenizer::load_tokenizer(dir);
        j["tokenizer_vocab_size"] = tok->vocab_size();
      } catch (const std::exception& e) {
        j["tokenizer"] = std::string("unavailable: ") + e.what();
      }
    }
    if (*as_json) {
      std::printf("%s\n", j.dump(2).c_str());
      return 0;
    }
    std::printf("model       %s\n", model->c_str());
    std::printf("family      %s\n", model::family_name(c.family));
    std::printf("parameters  %lld (%.2f M)\n", static_cast<long long>(c.num_parameters()), c.num_parameters() / 1e6);
    std::printf("layers      %lld, hidden %lld, heads %lld (kv %lld, head_dim %lld), mlp %lld\n",
                static_cast<long long>(c.num_layers), static_cast<long long>(c.hidden_size),
                static_cast<long long>(c.num_heads), static_cast<long long>(c.num_kv_heads),
                static_cast<long long>(c.head_dim), static_cast<long long>(c.intermediate_size));
    std::printf("vocab       %lld, context %lld, tied embeddings %s\n", static_cast<long long>(c.vocab_size),
                static_cast<long long>(c.max_position_embeddings), c.tie_word_embeddings ? "yes" : "no");
    if (j.contains("tokenizer_vocab_size"))
      std::printf("tokenizer   %lld tokens\n", j["tokenizer_vocab_size"].get<long long>());
    std::printf("threads     %s\n", runtime::describe_threads().c_str());
    return 0;
  };
}

namespace {
const CommandRegistrar kRegistrar{10, add_info};
}  // namespace

}  // namespace veil::cli
