// One TCP connection of the TLS stream (docs/transport.md "The TLS stream"), TLS 1.3 with
// OpenSSL unless the party runs --insecure: blocking reads and writes of exact byte counts, with
// an optional timeout. Mutual TLS as the gRPC transport does it: the server presents its
// certificate and requires one from the client signed by its CA; the client checks the server's
// against its CA and the name it dialled. Internal to the transport; free of gRPC and libtorch.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>

#include "veil/transport/connect.h"
#include "veil/transport/identity.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace veil::transport::stream {

// A read or write that failed: the peer closed the connection, a timeout, or a socket or TLS error.
class IoError : public std::runtime_error {
 public:
  IoError(const std::string& what, bool timeout) : std::runtime_error(what), timeout_(timeout) {}
  [[nodiscard]] bool timeout() const { return timeout_; }

 private:
  bool timeout_;
};

// The TLS context of a party, from its checked PEM files (tls_files.h); null for --insecure.
using TlsContext = std::shared_ptr<SSL_CTX>;
[[nodiscard]] TlsContext client_context(const TlsConfig& tls);
[[nodiscard]] TlsContext server_context(const TlsConfig& tls);

class Connection {
 public:
  // Connects to host:port and, with a context, runs the client handshake, checking that the
  // server's certificate names `server_name` (a DNS name, or an IP address). Throws IoError.
  [[nodiscard]] static std::unique_ptr<Connection> dial(const std::string& host, int port, const TlsContext& ctx,
                                                        const std::string& server_name, std::chrono::milliseconds timeout);
  // Takes an accepted socket and, with a context, runs the server handshake, all of it within
  // `deadline` (a peer that trickles its handshake a byte at a time is cut off at the deadline, not
  // per read). Throws IoError; the socket is then left open for the caller to close.
  [[nodiscard]] static std::unique_ptr<Connection> accept(int fd, const TlsContext& ctx, std::chrono::milliseconds deadline);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Exactly n bytes, or IoError.
  void read(char* data, std::size_t n);
  void write(const char* data, std::size_t n);
  // For the reads and writes that follow; zero: none.
  void set_timeout(std::chrono::milliseconds timeout);
  // After an error reply to a request whose bytes were not all read: stops writing and reads and
  // drops up to max_bytes for at most `timeout`, so that the peer gets the reply before the close
  // (closing with unread bytes resets the connection, and the reply with it).
  void discard(std::size_t max_bytes, std::chrono::milliseconds timeout);
  // Wakes a read or write blocked in another thread (it fails with IoError). Thread-safe.
  void shutdown();
  // The peer's identity, from its certificate (accepted connections; unauthenticated without TLS).
  [[nodiscard]] const Peer& peer() const { return peer_; }

 private:
  Connection(int fd, SSL* ssl) : fd_(fd), ssl_(ssl), peer_(Peer::unauthenticated()) {}
  [[noreturn]] void fail(const char* what, int ret);
  [[nodiscard]] bool interrupted(int ret) const;
  int fd_;
  SSL* ssl_;
  Peer peer_;
};

}  // namespace veil::transport::stream
