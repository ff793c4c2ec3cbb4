// The syntax tree of the Jinja subset (chat_template.h): expressions and statements.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace veil::serve::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind { Literal, Name, Attr, Index, Slice, Call, Filter, Test, Unary, Binary, Cond, List };
  Kind kind = Kind::Literal;
  nlohmann::json value;   // Literal
  std::string name;       // Name, Attr (attribute), Call (method name when args[0] is the object),
                          // Filter/Test (its name), Unary/Binary (operator)
  bool negated = false;   // Test: `is not`
  bool method = false;    // Call: args[0] is the object whose method `name` is called
  std::vector<ExprPtr> args;  // operands / arguments (null entries are omitted slice bounds)
  std::vector<std::string> keys;  // Call of namespace(): the keyword of each argument
  std::size_t offset = 0;     // in the source, for errors
};

struct Node {
  enum class Kind { Text, Output, If, For, Set };
  Kind kind = Kind::Text;
  std::string text;                                          // Text
  ExprPtr expr;                                              // Output, For (iterable), Set (value)
  std::vector<std::string> vars;  // For (loop variables); Set: a name, or a namespace and its attribute
  std::vector<std::pair<ExprPtr, std::vector<Node>>> branches;  // If: (condition, or null for else; body)
  std::vector<Node> body, else_body;                         // For
  std::size_t offset = 0;
};

// Parses template source into statements (jinja_parser.cpp); throws TemplateError.
[[nodiscard]] std::vector<Node> parse_template(std::string_view source);

}  // namespace veil::serve::jinja
