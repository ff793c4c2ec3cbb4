// `veil serve`'s HTTP server: the OpenAI endpoints over TLS (or plain HTTP on loopback only), an
// API key and/or client certificates for authentication, one generation thread behind a bounded
// queue (429 when full, 503 while draining), /metrics and /healthz.
//
// Endpoints: GET /v1/models, POST /v1/completions, POST /v1/chat/completions (stream: true as
// server-sent events), GET /metrics (authenticated like /v1), GET /healthz (open; says only "ok"
// or "draining"). The HTTP library (cpp-httplib) stays inside src/serve.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>

namespace veil::serve {

class Engine;

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                     // 0: any free port (port() says which)
  bool insecure = false;               // plain HTTP: only when host is a loopback address
  std::filesystem::path tls_cert, tls_key;
  std::filesystem::path tls_ca;        // when set, clients must present a certificate it signs
  std::string api_key;                 // when set, /v1 and /metrics need `Authorization: Bearer <key>`
  std::size_t max_queue = 8;           // requests waiting besides the one generating
  std::size_t max_body_bytes = 1 << 20;
  int read_timeout_s = 10;
};

// Whether `host` is a numeric loopback address (127.0.0.0/8 or ::1), parsed with inet_pton:
// names such as "localhost" are not accepted (they resolve at the resolver's word).
[[nodiscard]] bool is_loopback_address(const std::string& host);

// The checks HttpServer's constructor makes on `opts` before touching the network or any file
// (so a command can fail fast, before loading a model). Throws std::invalid_argument naming the flag.
void check_server_options(const ServerOptions& opts);

class HttpServer {
 public:
  // Validates the options (throws std::invalid_argument naming the flag: TLS files missing or
  // unreadable, --insecure on a non-loopback address, no API key and no client CA) and binds.
  HttpServer(ServerOptions opts, const Engine& engine);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  [[nodiscard]] int port() const;
  // Serves until SIGTERM or SIGINT; then refuses new requests (503), finishes those admitted,
  // and returns. `who` prefixes messages on stderr.
  void run_until_signal(const char* who);
  void drain_and_stop();  // what a signal does (also callable from another thread)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace veil::serve
