// The HTTP glue of `veil serve` (server.h): routes, authentication, admission, streaming.
#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <thread>

#include "connection_pool.h"
#include "veil/serve/engine.h"
#include "veil/serve/metrics.h"
#include "veil/serve/queue.h"
#include "veil/serve/request.h"
#include "veil/serve/response.h"
#include "veil/serve/server.h"
#include "veil/serve/sse.h"
#include "veil/util/check.h"

namespace veil::serve {

bool is_loopback_address(const std::string& host) {
  unsigned char buf[16];
  if (inet_pton(AF_INET, host.c_str(), buf) == 1) return buf[0] == 127;
  if (inet_pton(AF_INET6, host.c_str(), buf) == 1) {
    static constexpr unsigned char kLoop6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return std::memcmp(buf, kLoop6, 16) == 0;
  }
  return false;
}

void check_server_options(const ServerOptions& opts) {
  VEIL_CHECK_ARG(!opts.api_key.empty() || !opts.tls_ca.empty(),
                 "serve: clients must authenticate: give --api-key-file (or VEIL_API_KEY) and/or --tls-ca");
  VEIL_CHECK_ARG(opts.max_queue >= 1, "serve: --max-queue must be at least 1");
  if (opts.insecure) {
    VEIL_CHECK_ARG(opts.tls_ca.empty(), "serve: --tls-ca (client certificates) needs TLS, not --insecure");
    VEIL_CHECK_ARG(is_loopback_address(opts.host), "serve: --insecure (plain HTTP) is only allowed on a numeric loopback address ",
                   "(127.0.0.1 or ::1), not '", opts.host, "'");
    VEIL_CHECK_ARG(opts.tls_cert.empty() && opts.tls_key.empty(), "serve: --insecure cannot be combined with --tls-cert/--tls-key");
  } else {
    VEIL_CHECK_ARG(!opts.tls_cert.empty() && !opts.tls_key.empty(),
                   "serve: TLS needs --tls-cert and --tls-key (or --insecure on a loopback address)");
    for (const auto* f : {&opts.tls_cert, &opts.tls_key, &opts.tls_ca})
      VEIL_CHECK_ARG(f->empty() || std::filesystem::is_regular_file(*f), "serve: no such file: ", f->string());
  }
}

namespace {

using Clock = std::chrono::steady_clock;

// One admitted request, shared by its HTTP thread and the generation thread.
struct Job {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> events;  // SSE events not yet written (streaming)
  bool done = false;
  std::atomic<bool> cancelled{false};
  CompletionResult result;
  std::optional<ApiError> error;

  void push(std::string ev) {
    {
      std::lock_guard lock(mu);
      events.push_back(std::move(ev));
    }
    cv.notify_all();
  }
};

std::string endpoint_label(const std::string& path) {
  for (const char* p : {"/v1/models", "/v1/completions", "/v1/chat/completions", "/metrics", "/healthz"})
    if (path == p) return p;
  return "other";  // never the raw path: labels stay bounded
}

std::array<unsigned char, SHA256_DIGEST_LENGTH> sha256(const std::string& s) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> d{};
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d.data());
  return d;
}

std::string ssl_error() {
  const unsigned long e = ERR_get_error();
  char buf[256] = "unknown TLS error";
  if (e) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

thread_local Clock::time_point t_request_start{};

}  // namespace

struct HttpServer::Impl {
  ServerOptions opts;
  const Engine& engine;
  std::unique_ptr<httplib::Server> svr;
  std::array<unsigned char, SHA256_DIGEST_LENGTH> key_digest{};
  Metrics metrics;
  std::atomic<bool> draining{false};
  std::atomic<int> active{0};
  int port = 0;
  std::int64_t created = 0;
  GenerationQueue queue;  // last: destroyed first, its jobs use the members above

  Impl(ServerOptions o, const Engine& e) : opts(std::move(o)), engine(e), queue(opts.max_queue) {
    created = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    check_server_options(opts);
    if (!opts.api_key.empty()) key_digest = sha256(opts.api_key);
    if (opts.insecure) {
      svr = std::make_unique<httplib::Server>();
    } else {
      std::string err;
      auto ssl = std::make_unique<httplib::SSLServer>([&](SSL_CTX& ctx) { return setup_tls(ctx, err); });
      VEIL_CHECK_ARG(ssl->is_valid(), "serve: ", err.empty() ? "cannot create the TLS context" : err);
      svr = std::move(ssl);
    }
    // Enough threads that a full queue is still answered (429) while requests wait; beyond them,
    // at most 4x as many connections wait, then the listener itself serves (back-pressure).
    const std::size_t threads = opts.max_queue + 8;
    svr->new_task_queue = [threads] { return new ConnectionPool(threads, 4 * threads); };
    svr->set_payload_max_length(opts.max_body_bytes);
    svr->set_read_timeout(opts.read_timeout_s, 0);
    svr->set_write_timeout(opts.read_timeout_s, 0);
    svr->set_keep_alive_timeout(2);
    install_routes();
    port = opts.port == 0 ? svr->bind_to_any_port(opts.host) : (svr->bind_to_port(opts.host, opts.port) ? opts.port : -1);
    VEIL_CHECK_IO(port > 0, "serve: cannot listen on ", opts.host, ":", opts.port, " (address in use or not local?)");
  }

  bool setup_tls(SSL_CTX& ctx, std::string& err) const {
    SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_use_certificate_chain_file(&ctx, opts.tls_cert.c_str()) != 1)
      return err = util::cat("--tls-cert ", opts.tls_cert.string(), ": ", ssl_error()), false;
    if (SSL_CTX_use_PrivateKey_file(&ctx, opts.tls_key.c_str(), SSL_FILETYPE_PEM) != 1)
      return err = util::cat("--tls-key ", opts.tls_key.string(), ": ", ssl_error()), false;
    if (SSL_CTX_check_private_key(&ctx) != 1) return err = "--tls-key does not match --tls-cert", false;
    if (!opts.tls_ca.empty()) {
      if (SSL_CTX_load_verify_locations(&ctx, opts.tls_ca.c_str(), nullptr) != 1)
        return err = util::cat("--tls-ca ", opts.tls_ca.string(), ": ", ssl_error()), false;
      SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
    return true;
  }

  static void reply_error(httplib::Response& res, const ApiError& e) {
    res.status = e.status();
    res.set_content(e.body(), "application/json");
  }

  bool authorized(const httplib::Request& req) const {
    if (opts.api_key.empty()) return true;  // client certificates (checked in the handshake)
    const std::string h = req.get_header_value("Authorization");
    constexpr std::string_view kBearer = "Bearer ";
    const std::string given = h.size() > kBearer.size() && std::string_view(h).substr(0, kBearer.size()) == kBearer ? h.substr(kBearer.size()) : "";
    const auto d = sha256(given);  // equal-length digests, compared in constant time
    return CRYPTO_memcmp(d.data(), key_digest.data(), d.size()) == 0 && !given.empty();
  }

  void install_routes() {
    using httplib::Request, httplib::Response;
    svr->set_pre_routing_handler([this](const Request& req, Response& res) {
      t_request_start = Clock::now();
      ++active;
      if (req.path == "/healthz" || authorized(req)) return httplib::Server::HandlerResponse::Unhandled;
      reply_error(res, ApiError(401, "missing or incorrect API key (Authorization: Bearer <key>)", "invalid_request_error", "",
                                "invalid_api_key"));
      return httplib::Server::HandlerResponse::Handled;
    });
    svr->set_logger([this](const Request& req, const Response& res) {
      const double s = t_request_start == Clock::time_point{} ? 0.0 : std::chrono::duration<double>(Clock::now() - t_request_start).count();
      if (t_request_start != Clock::time_point{}) --active;
      t_request_start = {};
      metrics.observe(endpoint_label(req.path), res.status, s);
    });
    svr->set_error_handler(httplib::Server::HandlerWithResponse([](const Request& req, Response& res) {
      if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
      const int st = res.status;
      const std::string msg = st == 404   ? util::cat("no such endpoint: ", endpoint_label(req.path) == "other" ? "this path" : req.path)
                              : st == 413 ? "the request body is too large"
                              : st == 405 ? "method not allowed"
                                          : util::cat("HTTP error ", st);
      reply_error(res, ApiError(st, msg, st >= 500 ? "server_error" : "invalid_request_error"));
      return httplib::Server::HandlerResponse::Handled;
    }));
    svr->set_exception_handler([](const Request&, Response& res, std::exception_ptr) {
      reply_error(res, ApiError(500, "internal error", "server_error"));
    });
    svr->Get("/healthz", [this](const Request&, Response& res) {
      res.status = draining ? 503 : 200;
      res.set_content(draining ? "draining\n" : "ok\n", "text/plain");
    });
    svr->Get("/metrics", [this](const Request&, Response& res) {
      res.set_content(metrics.render(queue.waiting(), queue.busy(), draining), "text/plain; version=0.0.4");
    });
    svr->Get("/v1/models", [this](const Request&, Response& res) {
      std::vector<std::string> names;
      for (const auto& m : engine.models()) names.push_back(m.name);
      res.set_content(models_json(names, created).dump(), "application/json");
    });
    svr->Post("/v1/completions", [this](const Request& req, Response& res) { complete(req, res, false); });
    svr->Post("/v1/chat/completions", [this](const Request& req, Response& res) { complete(req, res, true); });
  }

  void complete(const httplib::Request& req, httplib::Response& res, bool chat) {
    try {
      if (draining) throw ApiError(503, "the server is shutting down", "server_error", "", "server_draining");
      auto prepared = std::make_shared<PreparedRequest>(engine.prepare(parse_completion_request(req.body, chat, engine.limits())));
      auto job = std::make_shared<Job>();
      const auto ids = new_response_ids(prepared->request.model, chat);
      const bool stream = prepared->request.stream;
      auto admit = queue.submit([this, job, prepared, ids, stream] { generate(*job, *prepared, ids, stream); });
      if (admit == GenerationQueue::Admit::kFull) {
        res.set_header("Retry-After", "1");
        throw ApiError(429, "too many requests are waiting; retry later", "requests", "", "rate_limit_exceeded");
      }
      if (admit == GenerationQueue::Admit::kDraining) throw ApiError(503, "the server is shutting down", "server_error", "", "server_draining");
      if (stream) {
        res.set_header("Cache-Control", "no-cache");
        res.set_chunked_content_provider(
            "text/event-stream", [job](std::size_t, httplib::DataSink& sink) { return write_stream(*job, sink); },
            [job](bool) { job->cancelled = true; });
        return;
      }
      std::unique_lock lock(job->mu);
      job->cv.wait(lock, [&] { return job->done; });
      if (job->error) throw *job->error;
      res.set_content(completion_json(ids, job->result).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                      "application/json");
    } catch (const ApiError& e) {
      reply_error(res, e);
    }
  }

  // On the generation thread.
  void generate(Job& job, const PreparedRequest& p, const ResponseIds& ids, bool stream) {
    bool first = true;
    try {
      if (job.cancelled) throw ApiError(499, "client closed the request", "server_error");
      job.result = engine.run(p, [&](const std::string& text) {
        if (stream) job.push(sse_event(chunk_json(ids, text, std::exchange(first, false), std::nullopt)));
        return !job.cancelled.load();
      });
      metrics.add_tokens(job.result.prompt_tokens, job.result.completion_tokens);
      if (stream) {
        if (first) job.push(sse_event(chunk_json(ids, "", true, std::nullopt)));
        job.push(sse_event(chunk_json(ids, "", false, job.result.finish_reason)));
        if (p.request.include_usage) job.push(sse_event(usage_chunk_json(ids, job.result)));
      }
    } catch (const ApiError& e) {
      job.error = e;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "veil serve: generation failed: %s\n", e.what());
      job.error = ApiError(500, "generation failed", "server_error");
    }
    if (stream && job.error) job.push(sse_event(job.error->to_json()));
    if (stream) job.push(sse_done());
    {
      std::lock_guard lock(job.mu);
      job.done = true;
    }
    job.cv.notify_all();
  }

  // On the HTTP thread of a streaming request: writes events as the generation thread makes them.
  static bool write_stream(Job& job, httplib::DataSink& sink) {
    while (true) {
      std::deque<std::string> out;
      bool done = false;
      {
        std::unique_lock lock(job.mu);
        job.cv.wait_for(lock, std::chrono::milliseconds(500), [&] { return job.done || !job.events.empty(); });
        out.swap(job.events);
        done = job.done;
      }
      for (const auto& ev : out)
        if (!sink.write(ev.data(), ev.size())) {
          job.cancelled = true;
          return false;
        }
      if (done) {
        sink.done();
        return true;
      }
      if (!sink.is_writable()) {
        job.cancelled = true;
        return false;
      }
    }
  }
};

HttpServer::HttpServer(ServerOptions opts, const Engine& engine) : impl_(std::make_unique<Impl>(std::move(opts), engine)) {}
HttpServer::~HttpServer() {
  if (impl_->svr->is_running()) drain_and_stop();
}

int HttpServer::port() const { return impl_->port; }

void HttpServer::drain_and_stop() {
  impl_->draining = true;
  impl_->queue.drain();
  // Let responses whose generation ended finish writing (bounded wait).
  for (int i = 0; i < 100 && impl_->active.load() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  impl_->svr->stop();
}

namespace {
int g_signal_pipe[2] = {-1, -1};
void on_signal(int sig) {
  const unsigned char b = static_cast<unsigned char>(sig);
  [[maybe_unused]] auto n = write(g_signal_pipe[1], &b, 1);
}
}  // namespace

void HttpServer::run_until_signal(const char* who) {
  if (g_signal_pipe[0] < 0 && pipe(g_signal_pipe) != 0) throw std::runtime_error(std::string(who) + ": cannot create a pipe");
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  std::thread waiter([&] {
    unsigned char sig = 0;
    while (read(g_signal_pipe[0], &sig, 1) < 0 && errno == EINTR) {
    }
    if (sig == 0) return;  // woken to exit
    std::fprintf(stderr, "%s: %s: refusing new requests, finishing %zu admitted\n", who, sig == SIGTERM ? "SIGTERM" : "SIGINT",
                 impl_->queue.waiting() + (impl_->queue.busy() ? 1 : 0));
    drain_and_stop();
  });
  const bool ok = impl_->svr->listen_after_bind();
  if (impl_->svr->is_running() || !impl_->draining) {  // listen failed on its own: wake the waiter
    const unsigned char zero = 0;
    [[maybe_unused]] auto n = write(g_signal_pipe[1], &zero, 1);
  }
  waiter.join();
  VEIL_CHECK_IO(ok || impl_->draining, who, ": the listener stopped unexpectedly");
}

}  // namespace veil::serve
