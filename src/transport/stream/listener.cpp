#include "transport/stream/listener.h"

#include <netdb.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "transport/stream/connection.h"
#include "transport/stream/frame.h"
#include "transport/stream/message_io.h"

namespace veil::transport::stream {

struct Listener::Impl : std::enable_shared_from_this<Listener::Impl> {
  std::shared_ptr<Service> service;
  ListenOptions o;
  TlsContext ctx;
  int listen_fd = -1;
  int port = 0;
  std::thread acceptor;

  struct Conn {
    std::thread thread;
    int fd = -1;                 // the socket while its TLS handshake runs (stop() can wake it)
    std::string address;         // the peer's source address (for the per-address caps)
    Connection* conn = nullptr;  // set while the connection is open
    bool busy = false;           // between a request's prefix and its reply
    bool done = false;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::uint64_t, Conn> conns;
  std::uint64_t next_id = 0;
  bool stopping = false, stopped = false;
  int in_flight = 0;
  std::atomic<std::uint64_t> calls{0}, sent{0}, received{0};

  void accept_loop() {
    for (;;) {
      sockaddr_storage from{};
      socklen_t from_len = sizeof from;
      const int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&from), &from_len, SOCK_CLOEXEC);
      const int err = errno;
      {
        std::lock_guard lock(mu);
        reap();
        if (stopping) {
          if (fd >= 0) ::close(fd);
          return;
        }
        if (fd >= 0) {
          const std::string address = source_address(from);
          int handshaking = 0, from_here = 0, handshaking_here = 0;
          for (const auto& [id, c] : conns) {
            handshaking += c.fd >= 0;
            if (c.address != address) continue;
            ++from_here;
            handshaking_here += c.fd >= 0;
          }
          if (static_cast<int>(conns.size()) >= o.max_connections || handshaking >= o.max_handshakes ||
              from_here >= o.max_connections_per_address || handshaking_here >= o.max_handshakes_per_address) {
            ::close(fd);
            continue;
          }
          const std::uint64_t id = next_id++;
          conns[id].fd = fd;
          conns[id].address = address;
          conns[id].thread = std::thread([self = shared_from_this(), id, fd] { self->serve(id, fd); });
          continue;
        }
      }
      if (err != EINTR && err != ECONNABORTED) std::this_thread::sleep_for(std::chrono::milliseconds(10));  // EMFILE, ...
    }
  }

  // The source IP address of a connection (IPv4-mapped IPv6 addresses as IPv4).
  static std::string source_address(const sockaddr_storage& a) {
    char buf[INET6_ADDRSTRLEN] = "?";
    if (a.ss_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(a).sin_addr, buf, sizeof buf);
    } else if (a.ss_family == AF_INET6) {
      const in6_addr& v6 = reinterpret_cast<const sockaddr_in6&>(a).sin6_addr;
      if (IN6_IS_ADDR_V4MAPPED(&v6))
        inet_ntop(AF_INET, v6.s6_addr + 12, buf, sizeof buf);
      else
        inet_ntop(AF_INET6, &v6, buf, sizeof buf);
    }
    return buf;
  }

  // Joins the threads of closed connections (under mu).
  void reap() {
    for (auto it = conns.begin(); it != conns.end();) {
      if (!it->second.done) {
        ++it;
        continue;
      }
      it->second.thread.join();
      it = conns.erase(it);
    }
  }

  void serve(std::uint64_t id, int fd) {
    std::unique_ptr<Connection> conn;
    try {
      conn = Connection::accept(fd, ctx, o.handshake_timeout);
    } catch (const IoError&) {  // a failed handshake: the peer learns it from TLS
    }
    bool open = false;
    {
      std::lock_guard lock(mu);
      conns[id].fd = -1;  // from here on the Connection (or the close below) owns the socket
      if (conn && !stopping) {
        conns[id].conn = conn.get();
        open = true;
      }
    }
    if (!conn) ::close(fd);
    while (open) {
      char prefix[kPrefixBytes];
      try {
        conn->set_timeout(std::chrono::milliseconds(0));  // idle until the next request
        conn->read(prefix, sizeof prefix);
      } catch (const IoError&) {
        break;
      }
      {
        std::lock_guard lock(mu);
        if (stopping) {
          send_error(*conn, ErrorCode::kUnavailable, service->party() + " is shutting down");
          break;
        }
        conns[id].busy = true;
      }
      conn->set_timeout(o.io_timeout);
      open = handle(*conn, std::string_view(prefix, sizeof prefix));
      std::lock_guard lock(mu);
      conns[id].busy = false;
      if (stopping) open = false;  // stop() left it alone while busy
    }
    {
      std::lock_guard lock(mu);
      conns[id].conn = nullptr;
    }
    conn.reset();
    std::lock_guard lock(mu);
    conns[id].done = true;
    cv.notify_all();
  }

  static void send_error(Connection& conn, ErrorCode code, const std::string& text) {
    const std::string f = error_frame(code, text);
    try {
      conn.write(f.data(), f.size());
    } catch (const IoError&) {
    }
  }

  // One request and its reply; false when the connection must close (out of sync or broken).
  bool handle(Connection& conn, std::string_view prefix_bytes) {
    const std::string party = service->party();
    constexpr std::size_t kDiscardBytes = std::size_t{64} << 20;
    constexpr std::chrono::milliseconds kDiscardTime{2000};
    // An error reply to a request not read to its end: the peer gets it before the close.
    const auto refuse = [&](ErrorCode code, const std::string& text, std::uint64_t unread) {
      send_error(conn, code, text);
      conn.discard(static_cast<std::size_t>(std::min<std::uint64_t>(unread, kDiscardBytes)), kDiscardTime);
      return false;
    };
    Prefix p;
    try {
      p = parse_prefix(prefix_bytes, o.limits);
      if (p.kind != Kind::kRequest) throw ProtocolError("stream frame: expected a request");
    } catch (const codec::MessageTooLarge& e) {
      return refuse(ErrorCode::kResourceExhausted, party + ": " + e.what(), kDiscardBytes);
    } catch (const ProtocolError& e) {
      return refuse(ErrorCode::kInvalidArgument, party + ": malformed request: " + e.what(), kDiscardBytes);
    }
    // A slot before the body is read: at most max_concurrent_calls requests are held in memory.
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return in_flight < o.max_concurrent_calls || stopping; });
      if (stopping) {
        lock.unlock();
        return refuse(ErrorCode::kUnavailable, party + " is shutting down", std::uint64_t{p.header_bytes} + p.payload_bytes);
      }
      ++in_flight;
    }
    struct Release {
      Impl& self;
      ~Release() {
        {
          std::lock_guard lock(self.mu);
          --self.in_flight;
        }
        self.cv.notify_all();
      }
    } release{*this};
    Message request;
    std::size_t request_bytes = 0;
    try {
      codec::MessageDecoder decoder(o.limits);
      // The caller's identity against the op's roles, once the header is in: a refused request's
      // payload is never read into memory.
      decoder.set_admit([&](const std::string& op) { service->authorize(op, conn.peer()); });
      read_message(p, [&](char* d, std::size_t n) { conn.read(d, n); }, decoder);
      request = decoder.finish();
      request_bytes = decoder.wire_bytes();
    } catch (const IoError&) {
      return false;
    } catch (const TransportError& e) {
      return refuse(e.code(), e.what(), p.payload_bytes);
    } catch (const codec::MessageTooLarge& e) {
      return refuse(ErrorCode::kResourceExhausted, party + ": " + e.what(), kDiscardBytes);
    } catch (const ProtocolError& e) {
      return refuse(ErrorCode::kInvalidArgument, party + ": malformed request: " + e.what(), kDiscardBytes);
    }
    received += request_bytes;
    Message reply;
    try {
      reply = service->dispatch(request, conn.peer());
    } catch (const TransportError& e) {
      send_error(conn, e.code(), e.what());
      return true;
    } catch (const std::exception& e) {
      send_error(conn, ErrorCode::kInternal, party + ": " + request.op + ": " + e.what());
      return true;
    }
    codec::EncodedMessage encoded;
    try {
      encoded = codec::encode(reply, o.limits);
    } catch (const ProtocolError& e) {
      send_error(conn, ErrorCode::kInternal, party + ": " + request.op + ": reply cannot be sent: " + e.what());
      return true;
    }
    try {
      write_message(conn, Kind::kReply, encoded);
    } catch (const IoError&) {
      return false;
    }
    sent += encoded.wire_bytes();
    calls += 1;
    return true;
  }
};

std::unique_ptr<Listener> Listener::start(std::shared_ptr<Service> service, ListenOptions options) {
  auto impl = std::make_shared<Impl>();
  impl->service = std::move(service);
  impl->o = std::move(options);
  impl->ctx = server_context(impl->o.tls);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* list = nullptr;
  const std::string where = impl->o.host + ":" + std::to_string(impl->o.port);
  const std::string service_port = std::to_string(impl->o.port);
  if (int rc = getaddrinfo(impl->o.host.c_str(), service_port.c_str(), &hints, &list); rc != 0)
    throw std::invalid_argument("stream listener: cannot resolve " + where + ": " + gai_strerror(rc));
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(list, freeaddrinfo);
  std::string why = "no address";
  for (addrinfo* a = list; a && impl->listen_fd < 0; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, 64) == 0) {
      impl->listen_fd = fd;
    } else {
      why = std::strerror(errno);
      ::close(fd);
    }
  }
  if (impl->listen_fd < 0) throw std::invalid_argument("stream listener: cannot listen on " + where + ": " + why);
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  getsockname(impl->listen_fd, reinterpret_cast<sockaddr*>(&addr), &len);
  impl->port = ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                                : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  impl->acceptor = std::thread([raw = impl.get()] { raw->accept_loop(); });
  return std::unique_ptr<Listener>(new Listener(std::move(impl)));
}

Listener::~Listener() { stop(std::chrono::milliseconds(0)); }

int Listener::port() const { return impl_->port; }

void Listener::stop(std::chrono::milliseconds grace) {
  Impl& s = *impl_;
  {
    std::lock_guard lock(s.mu);
    if (s.stopped) return;
    s.stopped = s.stopping = true;
    for (auto& [id, c] : s.conns) {
      if (c.conn && !c.busy) c.conn->shutdown();
      if (!c.conn && c.fd >= 0) ::shutdown(c.fd, SHUT_RDWR);  // a handshake in progress
    }
  }
  s.cv.notify_all();
  ::shutdown(s.listen_fd, SHUT_RDWR);  // wakes accept()
  s.acceptor.join();
  ::close(s.listen_fd);
  std::unique_lock lock(s.mu);
  const auto all_done = [&] {
    for (auto& [id, c] : s.conns)
      if (!c.done) return false;
    return true;
  };
  if (!s.cv.wait_for(lock, grace, all_done))
    for (auto& [id, c] : s.conns) {
      if (c.conn) c.conn->shutdown();
      if (!c.conn && c.fd >= 0) ::shutdown(c.fd, SHUT_RDWR);
    }
  s.cv.wait(lock, all_done);  // a handler still running is waited for
  s.reap();
}

TrafficStats Listener::stats() const { return {impl_->calls.load(), impl_->sent.load(), impl_->received.load()}; }

}  // namespace veil::transport::stream
