// Parsing and validating the body of POST /v1/completions and /v1/chat/completions (untrusted
// bytes from any client that passed authentication). Every problem is an ApiError (400, naming the
// field as `param`); nothing here throws anything else or recurses on the input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "veil/serve/api_error.h"

namespace veil::serve {

struct RequestLimits {
  std::int64_t max_tokens = 4096;       // largest max_tokens a client may ask for
  std::size_t max_prompt_bytes = 256 * 1024;  // prompt text, or all message contents together
  std::size_t max_messages = 256;
  std::size_t max_json_depth = 32;
};

struct ChatMessage {
  std::string role;  // system, user, assistant or tool
  std::string content;
};

struct CompletionRequest {
  bool chat = false;
  std::string model;
  std::string prompt;                 // completions
  std::vector<ChatMessage> messages;  // chat
  std::optional<std::int64_t> max_tokens;
  double temperature = 1.0;  // OpenAI's defaults
  double top_p = 1.0;
  std::vector<std::string> stop;  // at most 4, none empty
  std::optional<std::uint64_t> seed;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
};

// Parses `body` as a completions (chat = false) or chat completions request. Throws ApiError.
[[nodiscard]] CompletionRequest parse_completion_request(std::string_view body, bool chat, const RequestLimits& limits = {});

// The deepest nesting of [ and { in `body` (strings skipped): checked before parsing.
[[nodiscard]] std::size_t json_nesting_depth(std::string_view body);

}  // namespace veil::serve
