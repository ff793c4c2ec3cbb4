#include "transport/stream/connection.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <csignal>
#include <algorithm>
#include <cstring>
#include <functional>
#include <mutex>

#include "transport/peer_cert.h"
#include "transport/tls_files.h"

namespace veil::transport::stream {
namespace {

// A peer that goes away while this side writes must fail that write, not kill the process.
void ignore_sigpipe() {
  static std::once_flag once;
  std::call_once(once, [] { std::signal(SIGPIPE, SIG_IGN); });
}

std::string ssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

void add_pem_certs(const std::string& pem, const std::function<void(X509*)>& use) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) use(cert);
  ERR_clear_error();  // the end of the PEM text
}

TlsContext make_context(const TlsConfig& tls, bool server) {
  if (tls.insecure) return nullptr;
  const tls_files::Pems pems = tls_files::load(tls, server);
  TlsContext ctx(SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()), SSL_CTX_free);
  if (!ctx) throw std::runtime_error("TLS: cannot create a context: " + ssl_errors());
  SSL_CTX* c = ctx.get();
  SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION);
  SSL_CTX_set_mode(c, SSL_MODE_AUTO_RETRY);
  X509_STORE* store = SSL_CTX_get_cert_store(c);
  add_pem_certs(pems.ca, [&](X509* cert) {
    X509_STORE_add_cert(store, cert);
    X509_free(cert);
  });
  if (!pems.cert.empty()) {
    bool first = true;
    add_pem_certs(pems.cert, [&](X509* cert) {
      if (first) {
        SSL_CTX_use_certificate(c, cert);
        X509_free(cert);
        first = false;
      } else {
        SSL_CTX_add0_chain_cert(c, cert);  // takes ownership
      }
    });
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pems.key.data(), static_cast<int>(pems.key.size())),
                                                  BIO_free);
    EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
    const bool ok = key && SSL_CTX_use_PrivateKey(c, key) == 1 && SSL_CTX_check_private_key(c) == 1;
    EVP_PKEY_free(key);
    if (!ok) throw std::invalid_argument("TLS: --tls-key does not fit --tls-cert: " + ssl_errors());
  }
  SSL_CTX_set_verify(c, SSL_VERIFY_PEER | (server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), nullptr);
  return ctx;
}

void set_socket_timeout(int fd, std::chrono::milliseconds t) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(t.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// A connected TCP socket to host:port within `timeout`, or -1 with `why` set.
int connect_tcp(const std::string& host, int port, std::chrono::milliseconds timeout, std::string& why) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &list); rc != 0) {
    why = std::string("cannot resolve ") + host + ": " + gai_strerror(rc);
    return -1;
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(list, freeaddrinfo);
  for (addrinfo* a = list; a; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) continue;
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      rc = poll(&p, 1, static_cast<int>(timeout.count()));
      int err = 0;
      socklen_t len = sizeof err;
      if (rc == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
        rc = 0;
      } else {
        errno = rc == 0 ? ETIMEDOUT : (err ? err : errno);
        rc = -1;
      }
    }
    if (rc == 0) {
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return fd;
    }
    why = std::strerror(errno);
    ::close(fd);
  }
  if (why.empty()) why = "no address";
  return -1;
}

bool is_ip_address(const std::string& s) {
  in6_addr a6;
  in_addr a4;
  return inet_pton(AF_INET, s.c_str(), &a4) == 1 || inet_pton(AF_INET6, s.c_str(), &a6) == 1;
}

}  // namespace

TlsContext client_context(const TlsConfig& tls) { return make_context(tls, false); }
TlsContext server_context(const TlsConfig& tls) { return make_context(tls, true); }

std::unique_ptr<Connection> Connection::dial(const std::string& host, int port, const TlsContext& ctx,
                                             const std::string& server_name, std::chrono::milliseconds timeout) {
  ignore_sigpipe();
  std::string why;
  const int fd = connect_tcp(host, port, timeout, why);
  const std::string where = host + ":" + std::to_string(port);
  if (fd < 0) throw IoError("cannot connect to " + where + ": " + why, false);
  set_socket_timeout(fd, timeout);
  if (!ctx) return std::unique_ptr<Connection>(new Connection(fd, nullptr));
  SSL* ssl = SSL_new(ctx.get());
  std::unique_ptr<Connection> conn(new Connection(fd, ssl));
  if (!ssl) conn->fail("TLS setup", 0);
  SSL_set_fd(ssl, fd);
  // Fail closed: a name that cannot be set would leave any certificate from the CA acceptable.
  const bool named = is_ip_address(server_name)
                         ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), server_name.c_str()) == 1
                         : !server_name.empty() && SSL_set1_host(ssl, server_name.c_str()) == 1 &&
                               SSL_set_tlsext_host_name(ssl, server_name.c_str()) == 1;
  if (!named) throw IoError("TLS: cannot check the server's certificate for the name '" + server_name + "'", false);
  int rc = 0;
  do {
    ERR_clear_error();
    errno = 0;
    rc = SSL_connect(ssl);
  } while (rc != 1 && conn->interrupted(rc));
  if (rc != 1) {
    const long verify = SSL_get_verify_result(ssl);
    std::string detail = verify != X509_V_OK ? X509_verify_cert_error_string(verify) : ssl_errors();
    throw IoError("TLS handshake with " + where + " (as " + server_name + ") failed: " + detail, false);
  }
  return conn;
}

std::unique_ptr<Connection> Connection::accept(int fd, const TlsContext& ctx, std::chrono::milliseconds deadline) {
  ignore_sigpipe();
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (!ctx) {
    set_socket_timeout(fd, deadline);
    return std::unique_ptr<Connection>(new Connection(fd, nullptr));
  }
  SSL* ssl = SSL_new(ctx.get());
  if (!ssl) throw IoError("TLS setup: " + ssl_errors(), false);
  SSL_set_fd(ssl, fd);
  // The handshake on a non-blocking socket, each wait bounded by what is left of the deadline.
  const int flags = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  const auto until = std::chrono::steady_clock::now() + deadline;
  int rc = 0;
  std::string why;
  for (;;) {
    ERR_clear_error();
    errno = 0;
    rc = SSL_accept(ssl);
    if (rc == 1) break;
    const int err = SSL_get_error(ssl, rc);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE && !(err == SSL_ERROR_SYSCALL && errno == EINTR)) {
      why = ssl_errors();
      if (why.empty()) why = errno ? std::strerror(errno) : "the peer closed the connection";
      break;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      why = "not finished within " + std::to_string(deadline.count()) + " ms";
      break;
    }
    pollfd p{fd, static_cast<short>(err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN), 0};
    (void)poll(&p, 1, static_cast<int>(left.count()));
  }
  fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  if (rc != 1) {
    SSL_free(ssl);  // the socket stays open: the caller closes it
    throw IoError("TLS handshake failed: " + why, why.rfind("not finished", 0) == 0);
  }
  set_socket_timeout(fd, deadline);
  std::unique_ptr<Connection> conn(new Connection(fd, ssl));
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
  X509* cert = SSL_get1_peer_certificate(ssl);
#else
  X509* cert = SSL_get_peer_certificate(ssl);
#endif
  conn->peer_ = peer_from_certificate(cert);
  X509_free(cert);
  return conn;
}

void Connection::discard(std::size_t max_bytes, std::chrono::milliseconds timeout) {
  ::shutdown(fd_, SHUT_WR);
  set_socket_timeout(fd_, timeout);
  char buf[1 << 16];
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (max_bytes > 0 && std::chrono::steady_clock::now() < until) {
    const std::size_t n = std::min(max_bytes, sizeof buf);
    std::size_t got = 0;
    if (ssl_) {
      ERR_clear_error();
      if (SSL_read_ex(ssl_, buf, n, &got) != 1) return;
    } else {
      const ssize_t r = ::recv(fd_, buf, n, 0);
      if (r <= 0) return;
      got = static_cast<std::size_t>(r);
    }
    max_bytes -= got;
  }
}

Connection::~Connection() {
  if (ssl_) {
    set_socket_timeout(fd_, std::chrono::milliseconds(100));
    ERR_clear_error();
    SSL_shutdown(ssl_);  // best effort: close_notify
    SSL_free(ssl_);
  }
  ::close(fd_);
}

bool Connection::interrupted(int ret) const {
  // A socket with a timeout is not restarted after a stop signal and SIGCONT (signal(7)): the
  // read returns EINTR, which OpenSSL reports as "want read". That is not a timeout: go on.
  if (errno != EINTR) return false;
  const int err = SSL_get_error(ssl_, ret);
  return err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_SYSCALL;
}

void Connection::fail(const char* what, int ret) {
  if (!ssl_) {
    if (ret == 0) throw IoError(std::string(what) + ": the peer closed the connection", false);
    const bool timeout = errno == EAGAIN || errno == EWOULDBLOCK;
    throw IoError(std::string(what) + ": " + (timeout ? "timed out" : std::strerror(errno)), timeout);
  }
  const int err = SSL_get_error(ssl_, ret);
  switch (err) {
    case SSL_ERROR_ZERO_RETURN: throw IoError(std::string(what) + ": the peer closed the connection", false);
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE: throw IoError(std::string(what) + ": timed out", true);
    case SSL_ERROR_SYSCALL: {
      if (errno == EAGAIN || errno == EWOULDBLOCK) throw IoError(std::string(what) + ": timed out", true);
      const std::string e = ssl_errors();
      throw IoError(std::string(what) + ": " + (errno ? std::strerror(errno) : e.empty() ? "the peer closed the connection" : e),
                    false);
    }
    default: throw IoError(std::string(what) + ": TLS error: " + ssl_errors(), false);
  }
}

void Connection::read(char* data, std::size_t n) {
  while (n > 0) {
    if (ssl_) {
      std::size_t got = 0;
      ERR_clear_error();
      errno = 0;
      const int rc = SSL_read_ex(ssl_, data, n, &got);
      if (rc != 1 && interrupted(rc)) continue;
      if (rc != 1) fail("read", rc);
      data += got;
      n -= got;
    } else {
      const ssize_t got = ::recv(fd_, data, n, 0);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) fail("read", static_cast<int>(got));
      data += got;
      n -= static_cast<std::size_t>(got);
    }
  }
}

void Connection::write(const char* data, std::size_t n) {
  while (n > 0) {
    if (ssl_) {
      std::size_t put = 0;
      ERR_clear_error();
      errno = 0;
      const int rc = SSL_write_ex(ssl_, data, n, &put);
      if (rc != 1 && interrupted(rc)) continue;
      if (rc != 1) fail("write", rc);
      data += put;
      n -= put;
    } else {
      const ssize_t put = ::send(fd_, data, n, MSG_NOSIGNAL);
      if (put < 0 && errno == EINTR) continue;
      if (put <= 0) fail("write", put == 0 ? -1 : static_cast<int>(put));
      data += put;
      n -= static_cast<std::size_t>(put);
    }
  }
}

void Connection::set_timeout(std::chrono::milliseconds timeout) { set_socket_timeout(fd_, timeout); }

void Connection::shutdown() { ::shutdown(fd_, SHUT_RDWR); }

}  // namespace veil::transport::stream
