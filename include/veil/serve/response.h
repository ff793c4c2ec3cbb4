// The OpenAI response objects: a whole completion (text_completion / chat.completion), a streamed
// chunk (text_completion / chat.completion.chunk), the usage object and the model list.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "veil/serve/engine.h"

namespace veil::serve {

struct ResponseIds {
  std::string id;          // "cmpl-..." or "chatcmpl-..." (random, from OpenSSL)
  std::int64_t created = 0;  // Unix seconds
  std::string model;
  bool chat = false;
};

[[nodiscard]] ResponseIds new_response_ids(const std::string& model, bool chat);
[[nodiscard]] nlohmann::json usage_json(const CompletionResult& r);
[[nodiscard]] nlohmann::json completion_json(const ResponseIds& ids, const CompletionResult& r);
// A streamed chunk: `text` as the delta (chat: the first chunk carries role "assistant"), or the
// final chunk with `finish_reason`; with `usage_only`, the include_usage chunk (empty choices).
[[nodiscard]] nlohmann::json chunk_json(const ResponseIds& ids, const std::string& text, bool first,
                                        const std::optional<std::string>& finish_reason);
[[nodiscard]] nlohmann::json usage_chunk_json(const ResponseIds& ids, const CompletionResult& r);
[[nodiscard]] nlohmann::json models_json(const std::vector<std::string>& names, std::int64_t created);

}  // namespace veil::serve
