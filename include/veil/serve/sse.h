// Server-sent events as OpenAI streams them: `data: <json>\n\n` per chunk, `data: [DONE]\n\n` last.
#pragma once

#include <string>

#include <nlohmann/json_fwd.hpp>

namespace veil::serve {

[[nodiscard]] std::string sse_event(const nlohmann::json& data);  // invalid UTF-8 replaced by U+FFFD
[[nodiscard]] std::string sse_done();

}  // namespace veil::serve
