// Rendering the Jinja subset (chat_template.h). Values are JSON; a discarded JSON value stands for
// Jinja's `undefined`. Every evaluation counts against RenderLimits, so rendering always ends.
#include <algorithm>
#include <cctype>
#include <map>

#include "jinja_ast.h"
#include "veil/serve/chat_template.h"
#include "veil/util/check.h"

namespace veil::serve {
namespace {

using nlohmann::json;
using jinja::Expr;
using jinja::Node;

json undefined() { return json(json::value_t::discarded); }
constexpr const char* kNamespaceMark = "\x01namespace";  // a key no template can write
bool is_undefined(const json& v) { return v.is_discarded(); }

class Renderer {
 public:
  Renderer(const json& context, const RenderLimits& limits) : limits_(limits) {
    scopes_.emplace_back();
    if (context.is_object())
      for (const auto& [k, v] : context.items()) scopes_.back()[k] = v;
  }

  std::string run(const std::vector<Node>& body) {
    exec(body);
    return std::move(out_);
  }

 private:
  [[noreturn]] void fail(std::size_t off, const std::string& what) const {
    throw TemplateError(util::cat("chat template: ", what, " at byte ", off));
  }
  void step(std::size_t off) {
    if (++steps_ > limits_.max_steps) fail(off, "rendering took too many steps");
  }
  void emit(const std::string& s, std::size_t off) {
    if (out_.size() + s.size() > limits_.max_output_bytes) fail(off, "rendered prompt is too large");
    out_ += s;
  }
  // Every string or list built while rendering counts against a budget, so a template that keeps
  // concatenating into variables cannot exhaust memory within its step limit.
  void check_size(const std::string& s, std::size_t off) { charge(s.size(), off); }
  void charge(std::size_t bytes, std::size_t off) {
    if (bytes > limits_.max_output_bytes) fail(off, "string value is too large");
    made_ += bytes;
    if (made_ > 8 * limits_.max_output_bytes) fail(off, "rendering built too much data");
  }

  std::string str(const json& v) const {
    if (is_undefined(v) || v.is_null()) return v.is_null() ? "None" : "";
    if (v.is_string()) return v.get<std::string>();
    if (v.is_boolean()) return v.get<bool>() ? "True" : "False";
    return v.dump();
  }
  static bool truthy(const json& v) {
    if (is_undefined(v) || v.is_null()) return false;
    if (v.is_boolean()) return v.get<bool>();
    if (v.is_number_integer()) return v.get<std::int64_t>() != 0;
    if (v.is_number()) return v.get<double>() != 0.0;
    if (v.is_string() || v.is_array() || v.is_object()) return !v.empty();
    return true;
  }

  json lookup(const std::string& name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it)
      if (auto f = it->find(name); f != it->end()) return f->second;
    return undefined();
  }

  void exec(const std::vector<Node>& body) {
    for (const auto& n : body) {
      step(n.offset);
      switch (n.kind) {
        case Node::Kind::Text: emit(n.text, n.offset); break;
        case Node::Kind::Output: emit(str(eval(*n.expr)), n.offset); break;
        case Node::Kind::Set: assign(n); break;
        case Node::Kind::If:
          for (const auto& [cond, branch] : n.branches)
            if (!cond || truthy(eval(*cond))) {
              exec(branch);
              break;
            }
          break;
        case Node::Kind::For: exec_for(n); break;
      }
    }
  }

  void assign(const Node& n) {
    json v = eval(*n.expr);
    if (n.vars.size() == 1) {
      scopes_.back()[n.vars[0]] = std::move(v);
      return;
    }
    // ns.attr = v: a namespace is shared by reference, so the scope that holds it is updated.
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it)
      if (auto f = it->find(n.vars[0]); f != it->end()) {
        if (!f->second.is_object() || !f->second.contains(kNamespaceMark)) fail(n.offset, "attribute assignment to a value that is not a namespace()");
        f->second[n.vars[1]] = std::move(v);
        return;
      }
    fail(n.offset, util::cat("assignment to an attribute of undefined '", n.vars[0], "'"));
  }

  void exec_for(const Node& n) {
    json seq = eval(*n.expr);
    if (is_undefined(seq) || seq.is_null()) seq = json::array();
    if (seq.is_object()) {  // iterating a mapping yields its keys
      json keys = json::array();
      for (const auto& [k, v] : seq.items()) keys.push_back(k);
      seq = std::move(keys);
    }
    if (seq.is_string()) {
      json chars = json::array();
      for (char c : seq.get<std::string>()) chars.push_back(std::string(1, c));
      seq = std::move(chars);
    }
    if (!seq.is_array()) fail(n.offset, "for-loop over a value that is not a list");
    if (seq.empty()) {
      exec(n.else_body);
      return;
    }
    const auto len = static_cast<std::int64_t>(seq.size());
    for (std::int64_t i = 0; i < len; ++i) {
      step(n.offset);
      scopes_.emplace_back();
      auto& scope = scopes_.back();
      const json& item = seq[static_cast<std::size_t>(i)];
      if (n.vars.size() == 1) {
        scope[n.vars[0]] = item;
      } else {
        if (!item.is_array() || item.size() != n.vars.size()) fail(n.offset, "cannot unpack a loop item into several names");
        for (std::size_t k = 0; k < n.vars.size(); ++k) scope[n.vars[k]] = item[k];
      }
      scope["loop"] = json{{"index", i + 1}, {"index0", i}, {"revindex", len - i}, {"revindex0", len - i - 1},
                           {"first", i == 0}, {"last", i + 1 == len}, {"length", len}};
      exec(n.body);
      scopes_.pop_back();
    }
  }

  json eval(const Expr& e) {
    step(e.offset);
    switch (e.kind) {
      case Expr::Kind::Literal: return e.value;
      case Expr::Kind::Name: return lookup(e.name);
      case Expr::Kind::List: {
        json a = json::array();
        for (const auto& x : e.args) a.push_back(eval(*x));
        return a;
      }
      case Expr::Kind::Attr: return member(eval(*e.args[0]), json(e.name), e.offset);
      case Expr::Kind::Index: return member(eval(*e.args[0]), eval(*e.args[1]), e.offset);
      case Expr::Kind::Slice: return slice(e);
      case Expr::Kind::Cond:
        if (truthy(eval(*e.args[0]))) return eval(*e.args[1]);
        return e.args[2] ? eval(*e.args[2]) : undefined();
      case Expr::Kind::Unary: {
        json v = eval(*e.args[0]);
        if (e.name == "not") return !truthy(v);
        if (v.is_number_integer()) return -v.get<std::int64_t>();
        fail(e.offset, "unary '-' on a value that is not an integer");
      }
      case Expr::Kind::Binary: return binary(e);
      case Expr::Kind::Test: return test(e);
      case Expr::Kind::Filter: return filter(e);
      case Expr::Kind::Call: return call(e);
    }
    fail(e.offset, "unknown expression");
  }

  json member(const json& obj, const json& key, std::size_t off) {
    if (is_undefined(obj)) fail(off, "attribute or item of an undefined value");
    if (obj.is_object() && key.is_string()) {
      auto it = obj.find(key.get<std::string>());
      return it == obj.end() ? undefined() : *it;
    }
    if ((obj.is_array() || obj.is_string()) && key.is_number_integer()) {
      auto i = key.get<std::int64_t>();
      const auto n = static_cast<std::int64_t>(obj.size());
      const auto len = obj.is_string() ? static_cast<std::int64_t>(obj.get_ref<const std::string&>().size()) : n;
      if (i < 0) i += len;
      if (i < 0 || i >= len) return undefined();
      if (obj.is_string()) return std::string(1, obj.get_ref<const std::string&>()[static_cast<std::size_t>(i)]);
      return obj[static_cast<std::size_t>(i)];
    }
    return undefined();
  }

  json slice(const Expr& e) {
    json v = eval(*e.args[0]);
    const bool is_str = v.is_string();
    if (!v.is_array() && !is_str) fail(e.offset, "slice of a value that is not a list or string");
    const auto len = static_cast<std::int64_t>(is_str ? v.get_ref<const std::string&>().size() : v.size());
    auto bound = [&](const jinja::ExprPtr& x, std::int64_t dflt) {
      if (!x) return dflt;
      json b = eval(*x);
      if (!b.is_number_integer()) fail(e.offset, "slice bound is not an integer");
      auto i = b.get<std::int64_t>();
      if (i < 0) i += len;
      return std::clamp<std::int64_t>(i, 0, len);
    };
    const auto lo = bound(e.args[1], 0), hi = std::max(lo, bound(e.args[2], len));
    if (is_str) return v.get<std::string>().substr(static_cast<std::size_t>(lo), static_cast<std::size_t>(hi - lo));
    json out = json::array();
    for (auto i = lo; i < hi; ++i) out.push_back(v[static_cast<std::size_t>(i)]);
    return out;
  }

  json binary(const Expr& e) {
    const std::string& op = e.name;
    if (op == "and") {
      json a = eval(*e.args[0]);
      return truthy(a) ? eval(*e.args[1]) : a;
    }
    if (op == "or") {
      json a = eval(*e.args[0]);
      return truthy(a) ? a : eval(*e.args[1]);
    }
    json a = eval(*e.args[0]), b = eval(*e.args[1]);
    if (op == "~") {
      std::string s = str(a) + str(b);
      check_size(s, e.offset);
      return s;
    }
    if (op == "==") return a == b;
    if (op == "!=") return a != b;
    if (op == "in" || op == "not in") {
      bool found = false;
      if (b.is_string() && a.is_string()) found = b.get<std::string>().find(a.get<std::string>()) != std::string::npos;
      else if (b.is_array()) found = std::find(b.begin(), b.end(), a) != b.end();
      else if (b.is_object() && a.is_string()) found = b.contains(a.get<std::string>());
      else fail(e.offset, "'in' needs a string, list or mapping on the right");
      return op == "in" ? found : !found;
    }
    if (op == "+" && a.is_string() && b.is_string()) {
      std::string s = a.get<std::string>() + b.get<std::string>();
      check_size(s, e.offset);
      return s;
    }
    if (op == "+" && a.is_array() && b.is_array()) {
      if (a.size() + b.size() > limits_.max_steps) fail(e.offset, "list too large");
      charge((a.size() + b.size()) * 16, e.offset);
      json r = a;
      for (const auto& x : b) r.push_back(x);
      return r;
    }
    if (op == "<" || op == ">" || op == "<=" || op == ">=") {
      if (!((a.is_number() && b.is_number()) || (a.is_string() && b.is_string()))) fail(e.offset, util::cat("cannot compare with '", op, "'"));
      if (op == "<") return a < b;
      if (op == ">") return a > b;
      if (op == "<=") return a <= b;
      return a >= b;
    }
    if (!a.is_number_integer() || !b.is_number_integer())
      fail(e.offset, util::cat("operator '", op, "' needs two integers (or two strings/lists for '+')"));
    const auto x = a.get<std::int64_t>(), y = b.get<std::int64_t>();
    std::int64_t r = 0;
    if (op == "+") {
      if (__builtin_add_overflow(x, y, &r)) fail(e.offset, "integer overflow");
    } else if (op == "-") {
      if (__builtin_sub_overflow(x, y, &r)) fail(e.offset, "integer overflow");
    } else if (op == "*") {
      if (__builtin_mul_overflow(x, y, &r)) fail(e.offset, "integer overflow");
    } else {  // "/", "//", "%"
      if (y == 0 || (x == INT64_MIN && y == -1)) fail(e.offset, "division by zero or overflow");
      if (op == "%") r = ((x % y) + y) % y;  // Python's sign rule
      else r = (x / y) - (((x % y) != 0 && ((x < 0) != (y < 0))) ? 1 : 0);
    }
    return r;
  }

  json test(const Expr& e) {
    json v = eval(*e.args[0]);
    const std::string& t = e.name;
    bool r = false;
    if (t == "defined") r = !is_undefined(v);
    else if (t == "undefined") r = is_undefined(v);
    else if (t == "none") r = v.is_null();
    else if (t == "string") r = v.is_string();
    else if (t == "number" || t == "integer") r = t == "number" ? v.is_number() : v.is_number_integer();
    else if (t == "mapping") r = v.is_object();
    else if (t == "sequence" || t == "iterable") r = v.is_array() || v.is_string() || (t == "iterable" && v.is_object());
    else if (t == "boolean") r = v.is_boolean();
    else if (t == "true" || t == "false") r = v.is_boolean() && v.get<bool>() == (t == "true");
    else fail(e.offset, util::cat("unsupported test '", t, "'"));
    return e.negated ? !r : r;
  }

  static std::string trim(std::string s, bool left = true, bool right = true) {
    auto ws = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
    if (right)
      while (!s.empty() && ws(s.back())) s.pop_back();
    std::size_t k = 0;
    if (left)
      while (k < s.size() && ws(s[k])) ++k;
    return s.substr(k);
  }
  static std::string lower(std::string s, bool up) {
    for (auto& c : s) c = static_cast<char>(up ? std::toupper(static_cast<unsigned char>(c)) : std::tolower(static_cast<unsigned char>(c)));
    return s;
  }

  json filter(const Expr& e) {
    json v = eval(*e.args[0]);
    const std::string& f = e.name;
    auto arg = [&](std::size_t i) { return i < e.args.size() ? eval(*e.args[i]) : undefined(); };
    if (f == "trim") return trim(str(v));
    if (f == "upper" || f == "lower") return lower(str(v), f == "upper");
    if (f == "string") return str(v);
    if (f == "length" || f == "count") {
      if (v.is_string() || v.is_array() || v.is_object()) return v.is_string() ? v.get_ref<const std::string&>().size() : v.size();
      fail(e.offset, "length of a value that has none");
    }
    if (f == "tojson") {
      if (is_undefined(v)) fail(e.offset, "tojson of an undefined value");
      std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
      check_size(s, e.offset);
      return s;
    }
    if (f == "first" || f == "last") {
      if (v.is_array()) return v.empty() ? undefined() : (f == "first" ? v.front() : v.back());
      if (v.is_string()) return v.get<std::string>().empty() ? undefined() : member(v, f == "first" ? 0 : -1, e.offset);
      fail(e.offset, util::cat("'", f, "' of a value that is not a list"));
    }
    if (f == "default" || f == "d") return is_undefined(v) ? arg(1) : v;
    if (f == "join") {
      if (!v.is_array()) fail(e.offset, "join of a value that is not a list");
      const json sep = arg(1);
      std::string s;
      for (std::size_t i = 0; i < v.size(); ++i) {
        if (i) s += is_undefined(sep) ? "" : str(sep);
        s += str(v[i]);
        check_size(s, e.offset);
      }
      return s;
    }
    if (f == "int") {
      if (v.is_number_integer()) return v;
      if (v.is_number()) return static_cast<std::int64_t>(v.get<double>());
      return 0;
    }
    fail(e.offset, util::cat("unsupported filter '", f, "'"));
  }

  json call(const Expr& e) {
    std::vector<json> a;
    for (const auto& x : e.args) a.push_back(eval(*x));
    if (!e.method) {
      if (e.name == "namespace") {
        json ns = json::object();
        for (std::size_t i = 0; i < a.size(); ++i) ns[e.keys[i]] = a[i];
        ns[kNamespaceMark] = true;
        return ns;
      }
      if (e.name == "raise_exception") throw TemplateRaised(a.empty() ? "chat template raised an exception" : str(a[0]));
      fail(e.offset, util::cat("unsupported function '", e.name, "'"));
    }
    const json& self = a[0];
    const std::string& m = e.name;
    if (self.is_string()) {
      const std::string s = self.get<std::string>();
      if (m == "strip" || m == "lstrip" || m == "rstrip") return trim(s, m != "rstrip", m != "lstrip");
      if (m == "upper" || m == "lower") return lower(s, m == "upper");
      if ((m == "startswith" || m == "endswith") && a.size() == 2 && a[1].is_string()) {
        const auto& p = a[1].get_ref<const std::string&>();
        return m == "startswith" ? s.starts_with(p) : s.ends_with(p);
      }
    }
    if (self.is_object()) {
      if (m == "get" && (a.size() == 2 || a.size() == 3) && a[1].is_string()) {
        auto it = self.find(a[1].get<std::string>());
        return it != self.end() ? *it : (a.size() == 3 ? a[2] : json(nullptr));
      }
      if (m == "items" && a.size() == 1) {
        json r = json::array();
        for (const auto& [k, v] : self.items()) r.push_back(json::array({k, v}));
        return r;
      }
      if (m == "keys" && a.size() == 1) {
        json r = json::array();
        for (const auto& [k, v] : self.items()) r.push_back(k);
        return r;
      }
    }
    fail(e.offset, util::cat("unsupported method '", m, "'"));
  }

  RenderLimits limits_;
  std::vector<std::map<std::string, json>> scopes_;
  std::string out_;
  std::size_t steps_ = 0, made_ = 0;
};

}  // namespace

ChatTemplate ChatTemplate::parse(std::string_view source) {
  ChatTemplate t;
  t.body_ = std::make_shared<const std::vector<jinja::Node>>(jinja::parse_template(source));
  return t;
}

std::string ChatTemplate::render(const nlohmann::json& context, const RenderLimits& limits) const {
  VEIL_CHECK_STATE(body_ != nullptr, "ChatTemplate: render before parse");
  return Renderer(context, limits).run(*body_);
}

}  // namespace veil::serve
