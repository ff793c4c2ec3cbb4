// veil export: merge a LoRA adapter into the base weights and write a plain HF model.
#include <cstdio>
#include <filesystem>

#include "command.h"
#include "model_options.h"

namespace veil::cli {

Action add_export(CLI::App& app, const CommonOptions&) {
  auto* cmd = app.add_subcommand("export", "merge a PEFT adapter into the base model and write an HF model directory");
  struct Opts {
    std::string model, adapter, out;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--model", o->model, "base model (HF directory or llama2.c .bin)")->required();
  cmd->add_option("--adapter", o->adapter, "PEFT adapter directory")->required();
  cmd->add_option("--out", o->out, "output directory")->required();
  return [o] {
    namespace fs = std::filesystem;
    auto files = model::read_model(o->model);
    auto adapters = lora::load_peft_adapter(o->adapter, files.config);
    lora::merge_adapter(files.weights.linear, *adapters);
    model::save_model(o->out, files.config, files.weights.params, files.weights.linear);
    if (fs::is_directory(o->model))
      for (const char* f : {"tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt"})
        if (fs::exists(fs::path(o->model) / f))
          fs::copy_file(fs::path(o->model) / f, fs::path(o->out) / f, fs::copy_options::overwrite_existing);
    std::fprintf(stderr, "veil: merged %zu adapted projections into %s\n", adapters->pairs().size(), o->out.c_str());
    return 0;
  };
}

namespace {
const CommandRegistrar kRegistrar{70, add_export};
}  // namespace

}  // namespace veil::cli
