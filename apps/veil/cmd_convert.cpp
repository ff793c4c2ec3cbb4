// veil convert: llama2.c checkpoint -> Hugging Face safetensors directory.
#include <cstdio>

#include "command.h"
#include "veil/checkpoint/llama2c.h"

namespace veil::cli {

Action add_convert(CLI::App& app, const CommonOptions&) {
  auto* cmd = app.add_subcommand("convert", "write a Hugging Face model directory (config.json + model.safetensors) from a llama2.c .bin");
  auto in = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  cmd->add_option("--from,input", *in, "llama2.c checkpoint (.bin)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--out", *out, "output directory")->required();
  return [in, out] {
    checkpoint::convert_llama2c_to_hf(*in, *out);
    std::fprintf(stderr, "veil: wrote %s/config.json and model.safetensors\n", out->c_str());
    return 0;
  };
}

namespace {
const CommandRegistrar kRegistrar{60, add_convert};
}  // namespace

}  // namespace veil::cli
