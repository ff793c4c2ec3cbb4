#include "veil/serve/sse.h"

#include <nlohmann/json.hpp>

namespace veil::serve {

std::string sse_event(const nlohmann::json& data) {
  // dump() escapes newlines, so one event is one line.
  return "data: " + data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n\n";
}

std::string sse_done() { return "data: [DONE]\n\n"; }

}  // namespace veil::serve
