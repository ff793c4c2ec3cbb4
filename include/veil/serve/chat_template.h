// A chat template from tokenizer_config.json, rendered with a small, safe subset of Jinja.
//
// Supported (enough for ChatML, Llama-2/3, Zephyr/TinyLlama, Mistral-style templates):
//   {{ expr }}, {% if/elif/else/endif %}, {% for a[, b] in expr %}...{% else %}...{% endfor %} with
//   loop.index/index0/first/last/length, {% set name = expr %}, {# comments #}, whitespace control
//   ({%- -%}) and Hugging Face's trim_blocks + lstrip_blocks; literals (strings, integers, true/false/
//   none, lists), names, a.b, a['b'], a[i], a[i:j], + - * / % ~, == != < > <= >=, in / not in,
//   and/or/not, `x if c else y`, tests (is [not] defined/none/string/number/mapping/sequence/...),
//   filters (trim, length, upper, lower, string, tojson, first, last, default, join, int), string
//   methods (strip, lstrip, rstrip, upper, lower, startswith, endswith), dict .get/.items/.keys,
//   namespace(k=v, ...) with {% set ns.k = ... %}, and raise_exception(msg).
// Not supported (a parse error names it): macros, call blocks, set blocks, includes, imports, dict
// literals, loop filters, keyword arguments other than namespace()'s. Rendering is bounded (output size, steps, nesting), so an
// untrusted template or message list cannot hang or exhaust memory.
#pragma once

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace veil::serve {

// A template the subset cannot parse or render (names the construct and the byte offset).
struct TemplateError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};
// The template itself refused the input: raise_exception('...') (e.g. roles that do not alternate).
struct TemplateRaised : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

struct RenderLimits {
  std::size_t max_output_bytes = 4u << 20;
  std::size_t max_steps = 1u << 20;  // expression evaluations and loop iterations together
};

namespace jinja {
struct Node;
}

class ChatTemplate {
 public:
  // Parses `source`; throws TemplateError.
  [[nodiscard]] static ChatTemplate parse(std::string_view source);
  // Renders with `context` (a JSON object: messages, bos_token, eos_token, add_generation_prompt,
  // ...). Throws TemplateError (unsupported value operations, limits) or TemplateRaised.
  [[nodiscard]] std::string render(const nlohmann::json& context, const RenderLimits& limits = {}) const;

 private:
  std::shared_ptr<const std::vector<jinja::Node>> body_;
};

}  // namespace veil::serve
