// veil tokenize: text to token ids, space-separated on one line.
#include <cstdio>

#include "command.h"
#include "veil/tokenizer/tokenizer.h"

namespace veil::cli {

Action add_tokenize(CLI::App& app, const CommonOptions&) {
  auto* cmd = app.add_subcommand("tokenize", "print the token ids of a text, space-separated on one line");
  struct Opts {
    std::string tokenizer, text;
    bool no_special = false, decode = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--tokenizer", o->tokenizer, "tokenizer.json, vocab.json+merges.txt directory, llama2.c .bin, or a model directory")
      ->required();
  cmd->add_option("--text", o->text, "the text to encode (or ids to decode with --decode)")->required();
  cmd->add_flag("--no-special", o->no_special, "leave BOS/EOS and other added special tokens out");
  cmd->add_flag("--decode", o->decode, "decode space-separated ids back to text instead");
  return [o] {
    auto tok = tokenizer::load_tokenizer(o->tokenizer);
    if (o->decode) {
      std::vector<tokenizer::TokenId> ids;
      std::size_t pos = 0;
      while (pos < o->text.size()) {
        std::size_t used = 0;
        try {
          ids.push_back(std::stoi(o->text.substr(pos), &used));
        } catch (const std::exception&) {
          throw std::invalid_argument("--decode expects space-separated integer ids");
        }
        pos += used;
        while (pos < o->text.size() && o->text[pos] == ' ') ++pos;
      }
      std::printf("%s\n", tok->decode(ids, o->no_special).c_str());
      return 0;
    }
    auto ids = tok->encode(o->text, !o->no_special);
    std::string line;
    for (std::size_t i = 0; i < ids.size(); ++i) line += (i ? " " : "") + std::to_string(ids[i]);
    std::printf("%s\n", line.c_str());
    return 0;
  };
}

namespace {
const CommandRegistrar kRegistrar{20, add_tokenize};
}  // namespace

}  // namespace veil::cli
