// Recursive-descent parser of the Jinja subset (chat_template.h) over jinja_lexer.h's tokens.
#include <cctype>
#include <initializer_list>

#include "jinja_ast.h"
#include "jinja_lexer.h"
#include "veil/serve/chat_template.h"
#include "veil/util/check.h"

namespace veil::serve::jinja {
namespace {

constexpr std::size_t kMaxDepth = 64;  // expression and block nesting

[[noreturn]] void fail(std::size_t off, const std::string& what) {
  throw TemplateError(util::cat("chat template: ", what, " at byte ", off));
}

Node node(Node::Kind kind, std::size_t off) {
  Node n;
  n.kind = kind;
  n.offset = off;
  return n;
}

class Parser {
 public:
  explicit Parser(std::vector<Tok> toks) : t_(std::move(toks)) {}

  std::vector<Node> parse_all() {
    std::string end;
    auto body = parse_body({}, end);
    if (!end.empty()) fail(t_[i_].off, util::cat("unexpected {% ", end, " %}"));
    return body;
  }

 private:
  const Tok& peek(std::size_t k = 0) const { return t_[std::min(i_ + k, t_.size() - 1)]; }
  bool is_op(const char* op, std::size_t k = 0) const { return peek(k).t == Tok::T::Op && peek(k).s == op; }
  bool is_name(const char* n, std::size_t k = 0) const { return peek(k).t == Tok::T::Name && peek(k).s == n; }
  void expect_op(const char* op) {
    if (!is_op(op)) fail(peek().off, util::cat("expected '", op, "'"));
    ++i_;
  }
  std::string expect_name() {
    if (peek().t != Tok::T::Name) fail(peek().off, "expected a name");
    return t_[i_++].s;
  }
  void expect(Tok::T t, const char* what) {
    if (peek().t != t) fail(peek().off, util::cat("expected ", what));
    ++i_;
  }

  // Statements until one of `ends` (a block keyword such as endfor) or the end of the template;
  // `end` receives the keyword found (its block tag is left for the caller to consume).
  std::vector<Node> parse_body(std::initializer_list<const char*> ends, std::string& end) {
    if (++depth_ > kMaxDepth) fail(peek().off, "blocks nested too deeply");
    std::vector<Node> out;
    end.clear();
    while (peek().t != Tok::T::End) {
      const Tok& tok = peek();
      if (tok.t == Tok::T::Text) {
        Node n = node(Node::Kind::Text, tok.off);
        n.text = tok.s;
        out.push_back(std::move(n));
        ++i_;
      } else if (tok.t == Tok::T::VarOpen) {
        ++i_;
        Node n = node(Node::Kind::Output, tok.off);
        n.expr = parse_expr();
        expect(Tok::T::VarClose, "'}}'");
        out.push_back(std::move(n));
      } else if (tok.t == Tok::T::BlockOpen) {
        const std::string kw = peek(1).t == Tok::T::Name ? peek(1).s : "";
        for (const char* e : ends)
          if (kw == e) {
            end = kw;
            --depth_;
            return out;
          }
        ++i_;
        ++i_;
        if (kw == "if") out.push_back(parse_if(tok.off));
        else if (kw == "for") out.push_back(parse_for(tok.off));
        else if (kw == "set") out.push_back(parse_set(tok.off));
        else if (kw.empty()) fail(tok.off, "expected a statement name");
        else if (kw == "endif" || kw == "endfor" || kw == "elif" || kw == "else") fail(tok.off, util::cat("unexpected {% ", kw, " %}"));
        else fail(tok.off, util::cat("unsupported statement '", kw, "'"));
      } else {
        fail(tok.off, "unexpected token");
      }
    }
    if (ends.size() > 0) fail(peek().off, util::cat("missing {% ", *ends.begin(), " %}"));
    --depth_;
    return out;
  }

  Node parse_if(std::size_t off) {
    Node n = node(Node::Kind::If, off);
    ExprPtr cond = parse_expr();
    while (true) {
      expect(Tok::T::BlockClose, "'%}'");
      std::string end;
      auto body = parse_body({"elif", "else", "endif"}, end);
      n.branches.emplace_back(std::move(cond), std::move(body));
      i_ += 2;  // {% keyword
      if (end == "endif") break;
      if (end == "else") {
        expect(Tok::T::BlockClose, "'%}'");
        auto else_body = parse_body({"endif"}, end);
        n.branches.emplace_back(nullptr, std::move(else_body));
        i_ += 2;
        break;
      }
      cond = parse_expr();
    }
    expect(Tok::T::BlockClose, "'%}'");
    return n;
  }

  Node parse_for(std::size_t off) {
    Node n = node(Node::Kind::For, off);
    n.vars.push_back(expect_name());
    while (is_op(",")) {
      ++i_;
      n.vars.push_back(expect_name());
    }
    if (!is_name("in")) fail(peek().off, "expected 'in'");
    ++i_;
    n.expr = parse_or();
    if (is_name("if") || is_name("recursive")) fail(peek().off, "unsupported: for-loop filters and recursive loops");
    expect(Tok::T::BlockClose, "'%}'");
    std::string end;
    n.body = parse_body({"else", "endfor"}, end);
    i_ += 2;
    if (end == "else") {
      expect(Tok::T::BlockClose, "'%}'");
      n.else_body = parse_body({"endfor"}, end);
      i_ += 2;
    }
    expect(Tok::T::BlockClose, "'%}'");
    return n;
  }

  Node parse_set(std::size_t off) {
    Node n = node(Node::Kind::Set, off);
    n.vars.push_back(expect_name());
    if (is_op(".")) {  // {% set ns.attr = ... %} on a namespace()
      ++i_;
      n.vars.push_back(expect_name());
    }
    if (!is_op("=")) fail(peek().off, "unsupported: {% set %} blocks (expected '=')");
    ++i_;
    n.expr = parse_expr();
    expect(Tok::T::BlockClose, "'%}'");
    return n;
  }

  ExprPtr make(Expr::Kind k, std::size_t off, std::string name = {}) {
    auto e = std::make_unique<Expr>();
    e->kind = k;
    e->offset = off;
    e->name = std::move(name);
    return e;
  }
  ExprPtr binary(std::string op, ExprPtr a, ExprPtr b, std::size_t off) {
    auto e = make(Expr::Kind::Binary, off, std::move(op));
    e->args.push_back(std::move(a));
    e->args.push_back(std::move(b));
    return e;
  }

  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& parser) : p(parser) {
      if (++p.depth_ > kMaxDepth * 4) fail(p.peek().off, "expression nested too deeply");
    }
    ~DepthGuard() { --p.depth_; }
  };

  ExprPtr parse_expr() {
    DepthGuard g(*this);
    auto e = parse_or();
    if (is_name("if")) {
      const auto off = peek().off;
      ++i_;
      auto c = make(Expr::Kind::Cond, off);
      auto cond = parse_or();
      ExprPtr other;
      if (is_name("else")) {
        ++i_;
        other = parse_expr();
      }
      c->args.push_back(std::move(cond));
      c->args.push_back(std::move(e));
      c->args.push_back(std::move(other));
      return c;
    }
    return e;
  }
  ExprPtr parse_or() {
    auto e = parse_and();
    while (is_name("or")) {
      const auto off = t_[i_++].off;
      e = binary("or", std::move(e), parse_and(), off);
    }
    return e;
  }
  ExprPtr parse_and() {
    auto e = parse_not();
    while (is_name("and")) {
      const auto off = t_[i_++].off;
      e = binary("and", std::move(e), parse_not(), off);
    }
    return e;
  }
  ExprPtr parse_not() {
    DepthGuard g(*this);
    if (is_name("not")) {
      auto e = make(Expr::Kind::Unary, t_[i_++].off, "not");
      e->args.push_back(parse_not());
      return e;
    }
    return parse_compare();
  }
  ExprPtr parse_compare() {
    auto e = parse_concat();
    while (true) {
      const auto off = peek().off;
      static constexpr const char* kOps[] = {"==", "!=", "<", ">", "<=", ">="};
      std::string op;
      for (auto o : kOps)
        if (is_op(o)) op = o;
      if (!op.empty()) {
        ++i_;
      } else if (is_name("in")) {
        op = "in", ++i_;
      } else if (is_name("not") && is_name("in", 1)) {
        op = "not in", i_ += 2;
      } else {
        return e;
      }
      e = binary(op, std::move(e), parse_concat(), off);
    }
  }
  ExprPtr parse_concat() {
    auto e = parse_sum();
    while (is_op("~")) {
      const auto off = t_[i_++].off;
      e = binary("~", std::move(e), parse_sum(), off);
    }
    return e;
  }
  ExprPtr parse_sum() {
    auto e = parse_product();
    while (is_op("+") || is_op("-")) {
      const auto& t = t_[i_++];
      e = binary(t.s, std::move(e), parse_product(), t.off);
    }
    return e;
  }
  ExprPtr parse_product() {
    auto e = parse_unary();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const auto& t = t_[i_++];
      e = binary(t.s, std::move(e), parse_unary(), t.off);
    }
    return e;
  }
  ExprPtr parse_unary() {
    DepthGuard g(*this);
    if (is_op("-")) {
      auto e = make(Expr::Kind::Unary, t_[i_++].off, "-");
      e->args.push_back(parse_unary());
      return e;
    }
    auto e = parse_postfix(parse_primary());
    while (is_op("|") || is_name("is")) {
      const bool filter = is_op("|");
      const auto off = t_[i_++].off;
      auto f = make(filter ? Expr::Kind::Filter : Expr::Kind::Test, off);
      if (!filter && is_name("not")) f->negated = true, ++i_;
      f->name = expect_name();
      f->args.push_back(std::move(e));
      if (filter && is_op("(")) parse_call_args(*f);
      e = std::move(f);
    }
    return e;
  }
  void parse_call_args(Expr& call) {
    expect_op("(");
    while (!is_op(")")) {
      if (peek().t == Tok::T::Name && is_op("=", 1)) {  // keyword arguments: namespace(a=1) only
        if (call.kind != Expr::Kind::Call || call.method || call.name != "namespace") fail(peek().off, "unsupported: keyword arguments");
        call.keys.push_back(t_[i_].s);
        i_ += 2;
      } else if (!call.keys.empty()) {
        fail(peek().off, "positional argument after keyword arguments");
      }
      call.args.push_back(parse_expr());
      if (!is_op(")")) expect_op(",");
    }
    ++i_;
  }
  ExprPtr parse_postfix(ExprPtr e) {
    while (true) {
      const auto off = peek().off;
      if (is_op(".")) {
        ++i_;
        auto a = make(Expr::Kind::Attr, off, expect_name());
        a->args.push_back(std::move(e));
        e = std::move(a);
      } else if (is_op("[")) {
        ++i_;
        ExprPtr lo, hi;
        if (!is_op(":")) lo = parse_expr();
        if (is_op(":")) {
          ++i_;
          if (!is_op("]")) hi = parse_expr();
          auto s = make(Expr::Kind::Slice, off);
          s->args.push_back(std::move(e));
          s->args.push_back(std::move(lo));
          s->args.push_back(std::move(hi));
          e = std::move(s);
        } else {
          if (!lo) fail(off, "empty subscript");
          auto x = make(Expr::Kind::Index, off);
          x->args.push_back(std::move(e));
          x->args.push_back(std::move(lo));
          e = std::move(x);
        }
        expect_op("]");
      } else if (is_op("(")) {
        auto c = make(Expr::Kind::Call, off);
        if (e->kind == Expr::Kind::Attr) {  // obj.method(...)
          c->method = true;
          c->name = e->name;
          c->args.push_back(std::move(e->args[0]));
        } else if (e->kind == Expr::Kind::Name) {
          c->name = e->name;
        } else {
          fail(off, "only named functions and methods can be called");
        }
        parse_call_args(*c);
        e = std::move(c);
      } else {
        return e;
      }
    }
  }
  ExprPtr parse_primary() {
    const Tok& t = peek();
    if (t.t == Tok::T::String) {
      std::string s;
      while (peek().t == Tok::T::String) s += t_[i_++].s;  // adjacent literals concatenate
      auto e = make(Expr::Kind::Literal, t.off);
      e->value = std::move(s);
      return e;
    }
    if (t.t == Tok::T::Int) {
      ++i_;
      auto e = make(Expr::Kind::Literal, t.off);
      e->value = t.i;
      return e;
    }
    if (t.t == Tok::T::Name) {
      ++i_;
      auto e = make(Expr::Kind::Literal, t.off);
      if (t.s == "true" || t.s == "True") e->value = true;
      else if (t.s == "false" || t.s == "False") e->value = false;
      else if (t.s == "none" || t.s == "None") e->value = nullptr;
      else e = make(Expr::Kind::Name, t.off, t.s);
      return e;
    }
    if (is_op("(")) {
      ++i_;
      auto e = parse_expr();
      expect_op(")");
      return e;
    }
    if (is_op("[")) {
      auto e = make(Expr::Kind::List, t_[i_++].off);
      while (!is_op("]")) {
        e->args.push_back(parse_expr());
        if (!is_op("]")) expect_op(",");
      }
      ++i_;
      return e;
    }
    fail(t.off, t.t == Tok::T::End ? "unexpected end of template" : "expected an expression");
  }

  std::vector<Tok> t_;
  std::size_t i_ = 0;
  std::size_t depth_ = 0;
};

}  // namespace

std::vector<Node> parse_template(std::string_view source) { return Parser(lex_template(source)).parse_all(); }

}  // namespace veil::serve::jinja
