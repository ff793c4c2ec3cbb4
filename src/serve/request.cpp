// Validation of completion requests: types, ranges and sizes of every field the server reads, and
// refusal of features it does not implement (rather than silently ignoring them).
#include "veil/serve/request.h"

#include <cmath>

#include "veil/util/check.h"

namespace veil::serve {
namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& param, const std::string& message, const char* code = "invalid_value") {
  throw ApiError(400, message, "invalid_request_error", param, code);
}

// The field's value, or nullptr when absent or null.
const json* field(const json& body, const char* name) {
  auto it = body.find(name);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

double number_in(const json& body, const char* name, double dflt, double lo, double hi, bool lo_open = false) {
  const json* v = field(body, name);
  if (!v) return dflt;
  if (!v->is_number()) bad(name, util::cat("'", name, "' must be a number"), "invalid_type");
  const double x = v->get<double>();
  if (!std::isfinite(x) || x < lo || x > hi || (lo_open && x == lo))
    bad(name, util::cat("'", name, "' must be in ", lo_open ? "(" : "[", lo, ", ", hi, "]; got ", v->dump()));
  return x;
}

std::string text_content(const json& content, std::size_t i) {
  const std::string param = util::cat("messages[", i, "].content");
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) bad(param, util::cat("'", param, "' must be a string or a list of text parts"), "invalid_type");
  std::string out;
  for (const auto& part : content) {
    const json* type = part.is_object() ? field(part, "type") : nullptr;
    const json* text = part.is_object() ? field(part, "text") : nullptr;
    if (!type || *type != "text" || !text || !text->is_string())
      bad(param, util::cat("'", param, "': only parts {\"type\": \"text\", \"text\": string} are supported"));
    out += text->get<std::string>();
  }
  return out;
}

void refuse_unsupported(const json& body) {
  auto truthy = [&](const char* name) {
    const json* v = field(body, name);
    return v && !(v->is_boolean() && !v->get<bool>()) && !(v->is_number() && v->get<double>() == 0) &&
           !((v->is_object() || v->is_array()) && v->empty());
  };
  for (const char* name : {"logprobs", "top_logprobs", "echo", "suffix", "logit_bias", "tools", "functions",
                           "presence_penalty", "frequency_penalty", "response_format"})
    if (truthy(name)) bad(name, util::cat("'", name, "' is not supported by this server"), "unsupported_parameter");
  if (const json* b = field(body, "best_of"); b && !(b->is_number_integer() && b->get<std::int64_t>() == 1))
    bad("best_of", "'best_of' must be 1", "unsupported_parameter");
}

}  // namespace

std::size_t json_nesting_depth(std::string_view body) {
  std::size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

CompletionRequest parse_completion_request(std::string_view body_text, bool chat, const RequestLimits& limits) {
  if (json_nesting_depth(body_text) > limits.max_json_depth)
    bad("", util::cat("the JSON body is nested deeper than ", limits.max_json_depth, " levels"));
  const json body = json::parse(body_text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) throw ApiError(400, "the body is not valid JSON", "invalid_request_error", "", "invalid_json");
  if (!body.is_object()) bad("", "the body must be a JSON object", "invalid_type");
  CompletionRequest r;
  r.chat = chat;

  const json* model = field(body, "model");
  if (!model) bad("model", "'model' is required", "missing_required_parameter");
  if (!model->is_string() || model->get_ref<const std::string&>().empty()) bad("model", "'model' must be a non-empty string", "invalid_type");
  r.model = model->get<std::string>();

  std::size_t text_bytes = 0;
  if (chat) {
    const json* msgs = field(body, "messages");
    if (!msgs) bad("messages", "'messages' is required", "missing_required_parameter");
    if (!msgs->is_array() || msgs->empty()) bad("messages", "'messages' must be a non-empty list", "invalid_type");
    if (msgs->size() > limits.max_messages) bad("messages", util::cat("at most ", limits.max_messages, " messages"));
    for (std::size_t i = 0; i < msgs->size(); ++i) {
      const json& m = (*msgs)[i];
      const std::string p = util::cat("messages[", i, "]");
      if (!m.is_object()) bad(p, util::cat("'", p, "' must be an object"), "invalid_type");
      const json* role = field(m, "role");
      if (!role || !role->is_string()) bad(p + ".role", util::cat("'", p, ".role' must be a string"), "invalid_type");
      const auto& rs = role->get_ref<const std::string&>();
      if (rs != "system" && rs != "user" && rs != "assistant" && rs != "tool" && rs != "developer")
        bad(p + ".role", util::cat("'", p, ".role' must be system, developer, user, assistant or tool"));
      const json* content = field(m, "content");
      if (!content) bad(p + ".content", util::cat("'", p, ".content' is required"), "missing_required_parameter");
      ChatMessage cm{rs == "developer" ? "system" : rs, text_content(*content, i)};
      text_bytes += cm.content.size();
      r.messages.push_back(std::move(cm));
    }
  } else {
    const json* prompt = field(body, "prompt");
    if (!prompt) bad("prompt", "'prompt' is required", "missing_required_parameter");
    if (prompt->is_array() && prompt->size() == 1 && (*prompt)[0].is_string()) prompt = &(*prompt)[0];
    if (!prompt->is_string()) bad("prompt", "'prompt' must be a string (or a list of one string)", "invalid_type");
    r.prompt = prompt->get<std::string>();
    text_bytes = r.prompt.size();
  }
  if (text_bytes > limits.max_prompt_bytes)
    bad(chat ? "messages" : "prompt", util::cat("the prompt is ", text_bytes, " bytes; at most ", limits.max_prompt_bytes));

  const char* max_name = chat && field(body, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  if (const json* mt = field(body, max_name)) {
    if (!mt->is_number_integer()) bad(max_name, util::cat("'", max_name, "' must be an integer"), "invalid_type");
    const auto v = mt->get<std::int64_t>();
    if (v < 1 || v > limits.max_tokens) bad(max_name, util::cat("'", max_name, "' must be in [1, ", limits.max_tokens, "]; got ", v));
    r.max_tokens = v;
  }
  r.temperature = number_in(body, "temperature", 1.0, 0.0, 2.0);
  r.top_p = number_in(body, "top_p", 1.0, 0.0, 1.0, /*lo_open=*/true);
  if (const json* n = field(body, "n")) {
    if (!n->is_number_integer()) bad("n", "'n' must be an integer", "invalid_type");
    if (n->get<std::int64_t>() != 1) bad("n", "only n = 1 is supported");
  }
  if (const json* stop = field(body, "stop")) {
    if (stop->is_string()) {
      r.stop.push_back(stop->get<std::string>());
    } else if (stop->is_array()) {
      for (const auto& s : *stop) {
        if (!s.is_string()) bad("stop", "'stop' must be a string or a list of strings", "invalid_type");
        r.stop.push_back(s.get<std::string>());
      }
    } else {
      bad("stop", "'stop' must be a string or a list of strings", "invalid_type");
    }
    if (r.stop.size() > 4) bad("stop", "at most 4 stop sequences");
    for (const auto& s : r.stop)
      if (s.empty() || s.size() > 256) bad("stop", "each stop sequence must be 1 to 256 bytes");
  }
  if (const json* seed = field(body, "seed")) {
    if (!seed->is_number_integer()) bad("seed", "'seed' must be an integer", "invalid_type");
    r.seed = seed->is_number_unsigned() ? seed->get<std::uint64_t>() : static_cast<std::uint64_t>(seed->get<std::int64_t>());
  }
  if (const json* stream = field(body, "stream")) {
    if (!stream->is_boolean()) bad("stream", "'stream' must be a boolean", "invalid_type");
    r.stream = stream->get<bool>();
  }
  if (const json* so = field(body, "stream_options")) {
    if (!so->is_object()) bad("stream_options", "'stream_options' must be an object", "invalid_type");
    if (const json* iu = field(*so, "include_usage")) {
      if (!iu->is_boolean()) bad("stream_options.include_usage", "'stream_options.include_usage' must be a boolean", "invalid_type");
      r.include_usage = iu->get<bool>();
    }
  }
  refuse_unsupported(body);
  return r;
}

}  // namespace veil::serve
