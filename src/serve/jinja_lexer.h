// Tokens of the Jinja subset (chat_template.h): text between tags, tag delimiters and expression
// tokens, with Hugging Face's environment settings (trim_blocks, lstrip_blocks) and whitespace
// control already applied to the text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace veil::serve::jinja {

struct Tok {
  enum class T { Text, VarOpen, BlockOpen, VarClose, BlockClose, Name, String, Int, Op, End };
  T t = T::End;
  std::string s;      // Text, Name, String, Op
  std::int64_t i = 0;  // Int
  std::size_t off = 0;
};

// Throws TemplateError (unterminated tags, strings or comments; unexpected characters).
[[nodiscard]] std::vector<Tok> lex_template(std::string_view source);

}  // namespace veil::serve::jinja
