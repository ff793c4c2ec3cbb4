// The lexer of the Jinja subset (jinja_lexer.h).
#include "jinja_lexer.h"

#include <cctype>
#include <cstdint>

#include "veil/serve/chat_template.h"
#include "veil/util/check.h"

namespace veil::serve::jinja {
namespace {

[[noreturn]] void fail(std::size_t off, const std::string& what) {
  throw TemplateError(util::cat("chat template: ", what, " at byte ", off));
}

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

class Lexer {
 public:
  explicit Lexer(std::string_view src) : src_(src) {}

  std::vector<Tok> run() {
    std::size_t pos = 0;
    bool strip_ws = false, trim_nl = false;
    while (pos <= src_.size()) {
      std::size_t t = pos;
      while (t + 1 < src_.size() && !(src_[t] == '{' && (src_[t + 1] == '{' || src_[t + 1] == '%' || src_[t + 1] == '#'))) ++t;
      if (t + 1 >= src_.size()) t = std::string_view::npos;
      std::string text(src_.substr(pos, t == std::string_view::npos ? std::string_view::npos : t - pos));
      bool line_start = pos == 0 || src_[pos - 1] == '\n';
      if (strip_ws) {
        std::size_t k = 0;
        while (k < text.size() && is_ws(text[k])) ++k;
        text.erase(0, k);
      } else if (trim_nl) {
        if (text.starts_with("\r\n")) text.erase(0, 2), line_start = true;
        else if (text.starts_with("\n")) text.erase(0, 1), line_start = true;
      }
      if (t == std::string_view::npos) {
        emit_text(std::move(text), pos);
        break;
      }
      const char kind = src_[t + 1];
      const char mod = t + 2 < src_.size() ? src_[t + 2] : '\0';
      if (mod == '-') {
        while (!text.empty() && is_ws(text.back())) text.pop_back();
      } else if (kind != '{' && mod != '+') {  // lstrip_blocks
        const auto nl = text.rfind('\n');
        const std::size_t from = nl == std::string::npos ? 0 : nl + 1;
        bool blank = nl != std::string::npos || line_start;
        for (std::size_t k = from; k < text.size() && blank; ++k) blank = text[k] == ' ' || text[k] == '\t';
        if (blank) text.erase(from);
      }
      emit_text(std::move(text), pos);
      std::size_t p = t + 2 + ((mod == '-' || mod == '+') ? 1 : 0);
      if (kind == '#') {
        const auto e = src_.find("#}", p);
        if (e == std::string_view::npos) fail(t, "unterminated comment");
        strip_ws = e > p && src_[e - 1] == '-';
        trim_nl = !strip_ws;
        pos = e + 2;
        continue;
      }
      toks_.push_back({kind == '{' ? Tok::T::VarOpen : Tok::T::BlockOpen, "", 0, t});
      bool minus = false;
      pos = lex_expression(p, kind == '{' ? '}' : '%', minus);
      strip_ws = minus;
      trim_nl = kind == '%' && !minus;
    }
    toks_.push_back({Tok::T::End, "", 0, src_.size()});
    return std::move(toks_);
  }

 private:
  void emit_text(std::string text, std::size_t off) {
    if (!text.empty()) toks_.push_back({Tok::T::Text, std::move(text), 0, off});
  }

  // Lexes tokens up to the closing `}}` / `%}` (optionally `-}}`); returns the position after it.
  std::size_t lex_expression(std::size_t p, char close, bool& minus) {
    while (true) {
      while (p < src_.size() && is_ws(src_[p])) ++p;
      if (p >= src_.size()) fail(p, "unterminated tag");
      auto closes = [&](std::size_t q) { return q + 1 < src_.size() && src_[q] == close && src_[q + 1] == '}'; };
      if (src_[p] == '-' && closes(p + 1)) {
        minus = true;
        toks_.push_back({close == '}' ? Tok::T::VarClose : Tok::T::BlockClose, "", 0, p});
        return p + 3;
      }
      if (closes(p)) {
        toks_.push_back({close == '}' ? Tok::T::VarClose : Tok::T::BlockClose, "", 0, p});
        return p + 2;
      }
      const char c = src_[p];
      const std::size_t start = p;
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        while (p < src_.size() && (std::isalnum(static_cast<unsigned char>(src_[p])) || src_[p] == '_')) ++p;
        toks_.push_back({Tok::T::Name, std::string(src_.substr(start, p - start)), 0, start});
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        std::int64_t v = 0;
        while (p < src_.size() && std::isdigit(static_cast<unsigned char>(src_[p]))) {
          if (v > (INT64_MAX - 9) / 10) fail(start, "integer literal too large");
          v = v * 10 + (src_[p++] - '0');
        }
        toks_.push_back({Tok::T::Int, "", v, start});
      } else if (c == '\'' || c == '"') {
        std::string s;
        ++p;
        while (true) {
          if (p >= src_.size()) fail(start, "unterminated string literal");
          char d = src_[p++];
          if (d == c) break;
          if (d == '\\' && p < src_.size()) {
            const char e = src_[p++];
            d = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
          }
          s.push_back(d);
        }
        toks_.push_back({Tok::T::String, std::move(s), 0, start});
      } else {
        static constexpr std::string_view kTwo[] = {"==", "!=", "<=", ">=", "//", "**"};
        std::string op(1, c);
        for (auto two : kTwo)
          if (src_.substr(p, 2) == two) op = std::string(two);
        if (op.size() == 1 && std::string_view("()[].,|+-*/%~<>=:").find(c) == std::string_view::npos)
          fail(p, util::cat("unexpected character '", c, "'"));
        p += op.size();
        toks_.push_back({Tok::T::Op, std::move(op), 0, start});
      }
    }
  }

  std::string_view src_;
  std::vector<Tok> toks_;
};

}  // namespace

std::vector<Tok> lex_template(std::string_view source) { return Lexer(source).run(); }

}  // namespace veil::serve::jinja
