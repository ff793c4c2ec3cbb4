// An error reply of the OpenAI API: {"error": {"message", "type", "param", "code"}} with its HTTP
// status. Thrown by request validation and the engine; the HTTP glue turns it into the reply.
#pragma once

#include <stdexcept>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace veil::serve {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::string type = "invalid_request_error", std::string param = {},
           std::string code = {})
      : std::runtime_error(message), status_(status), type_(std::move(type)), param_(std::move(param)), code_(std::move(code)) {}
  [[nodiscard]] int status() const { return status_; }
  [[nodiscard]] const std::string& type() const { return type_; }
  [[nodiscard]] const std::string& param() const { return param_; }  // empty: null
  [[nodiscard]] const std::string& code() const { return code_; }    // empty: null
  [[nodiscard]] nlohmann::json to_json() const;                      // the whole reply body
  [[nodiscard]] std::string body() const;                             // to_json().dump()

 private:
  int status_;
  std::string type_, param_, code_;
};

}  // namespace veil::serve
