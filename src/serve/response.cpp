#include "veil/serve/response.h"

#include <openssl/rand.h>

#include <chrono>
#include <stdexcept>

namespace veil::serve {

using nlohmann::json;

ResponseIds new_response_ids(const std::string& model, bool chat) {
  unsigned char b[12];
  if (RAND_bytes(b, sizeof b) != 1) throw std::runtime_error("serve: RAND_bytes failed");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = chat ? "chatcmpl-" : "cmpl-";
  for (unsigned char c : b) id += kHex[c >> 4], id += kHex[c & 15];
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  return {id, now, model, chat};
}

json usage_json(const CompletionResult& r) {
  return {{"prompt_tokens", r.prompt_tokens}, {"completion_tokens", r.completion_tokens},
          {"total_tokens", r.prompt_tokens + r.completion_tokens}};
}

namespace {
json head(const ResponseIds& ids, const char* object) {
  return {{"id", ids.id}, {"object", object}, {"created", ids.created}, {"model", ids.model}, {"system_fingerprint", nullptr}};
}
}  // namespace

json completion_json(const ResponseIds& ids, const CompletionResult& r) {
  json out = head(ids, ids.chat ? "chat.completion" : "text_completion");
  json choice = {{"index", 0}, {"logprobs", nullptr}, {"finish_reason", r.finish_reason}};
  if (ids.chat) choice["message"] = {{"role", "assistant"}, {"content", r.text}};
  else choice["text"] = r.text;
  out["choices"] = json::array({choice});
  out["usage"] = usage_json(r);
  return out;
}

json chunk_json(const ResponseIds& ids, const std::string& text, bool first, const std::optional<std::string>& finish_reason) {
  json out = head(ids, ids.chat ? "chat.completion.chunk" : "text_completion");
  json choice = {{"index", 0}, {"logprobs", nullptr}, {"finish_reason", finish_reason ? json(*finish_reason) : json(nullptr)}};
  if (ids.chat) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (!finish_reason) delta["content"] = text;
    choice["delta"] = delta;
  } else {
    choice["text"] = text;
  }
  out["choices"] = json::array({choice});
  return out;
}

json usage_chunk_json(const ResponseIds& ids, const CompletionResult& r) {
  json out = head(ids, ids.chat ? "chat.completion.chunk" : "text_completion");
  out["choices"] = json::array();
  out["usage"] = usage_json(r);
  return out;
}

json models_json(const std::vector<std::string>& names, std::int64_t created) {
  json data = json::array();
  for (const auto& n : names) data.push_back({{"id", n}, {"object", "model"}, {"created", created}, {"owned_by", "veil"}});
  return {{"object", "list"}, {"data", data}};
}

}  // namespace veil::serve
