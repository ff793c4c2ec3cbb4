// The TLS stream listener against peers that never finish a handshake (issue 17.4): the whole
// handshake has a deadline (a peer trickling a byte at a time used to be cut off only after 10 s
// without a byte), and one source address cannot take every handshake or connection slot.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "transport/stream/client.h"
#include "transport/stream/listener.h"
#include "transport/tls_support.h"

namespace veil::transport {
namespace {
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// A TCP connection to 127.0.0.1:port from `source` (any 127.x address on Linux); -1 on failure.
int dial_from(const char* source, int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  inet_pton(AF_INET, source, &from.sin_addr);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
      connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Whether the server closed `fd` within `within` (a read returns end of file or a reset).
bool closed_by_server(int fd, std::chrono::milliseconds within) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(within.count())) <= 0) return false;
  char c;
  return recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

std::shared_ptr<Service> echo_service() {
  auto svc = std::make_shared<Service>("worker-0");
  svc->on("test.echo", kWorkerCallers, [](const Message& m) { return m; });
  return svc;
}

TEST(ListenerLimits, AHandshakeTrickledByteByByteIsCutOffAtTheDeadline) {
  auto pki = testing::TestPki::make("veil_listener_deadline");
  ASSERT_TRUE(pki.error.empty()) << pki.error;
  stream::ListenOptions o;
  o.host = "127.0.0.1";
  o.tls = {pki.server_cert, pki.server_key, pki.ca, false};
  o.handshake_timeout = 600ms;
  auto listener = stream::Listener::start(echo_service(), o);
  const int fd = dial_from("127.0.0.1", listener->port());
  ASSERT_GE(fd, 0);
  // A TLS record header announcing a 512-byte ClientHello, then one byte every 100 ms: each read
  // of the handshake gets a byte well within any per-read timeout.
  const unsigned char header[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01};
  const auto start = Clock::now();
  bool closed = false;
  for (std::size_t i = 0; Clock::now() - start < 5s; ++i) {
    const unsigned char b = i < sizeof header ? header[i] : 0;
    if (send(fd, &b, 1, MSG_NOSIGNAL) != 1 || closed_by_server(fd, 100ms)) {
      closed = true;
      break;
    }
  }
  const auto took = Clock::now() - start;
  close(fd);
  EXPECT_TRUE(closed) << "a handshake trickled for 5 s was still open";
  EXPECT_LT(took, 2500ms);
}

TEST(ListenerLimits, OneSourceAddressCannotTakeEveryHandshakeOrConnection) {
  auto pki = testing::TestPki::make("veil_listener_cap");
  ASSERT_TRUE(pki.error.empty()) << pki.error;
  stream::ListenOptions o;
  o.host = "127.0.0.1";
  o.tls = {pki.server_cert, pki.server_key, pki.ca, false};
  o.handshake_timeout = 10s;
  o.max_handshakes_per_address = 2;
  auto listener = stream::Listener::start(echo_service(), o);
  // Two stalled handshakes from 127.0.0.1 are held; the third from there is closed at once.
  const int a = dial_from("127.0.0.1", listener->port()), b = dial_from("127.0.0.1", listener->port());
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  std::this_thread::sleep_for(200ms);  // accepted
  const int c = dial_from("127.0.0.1", listener->port());
  ASSERT_GE(c, 0);
  EXPECT_TRUE(closed_by_server(c, 2s)) << "a third handshake from one address was held";
  // Another address still gets in (its handshake is held, not refused).
  const int other = dial_from("127.0.0.2", listener->port());
  ASSERT_GE(other, 0);
  EXPECT_FALSE(closed_by_server(other, 500ms)) << "127.0.0.2 was refused for 127.0.0.1's handshakes";
  EXPECT_FALSE(closed_by_server(a, 10ms));
  for (int fd : {a, b, c, other}) close(fd);
  // Once they are gone, a real client from 127.0.0.1 is served again.
  std::this_thread::sleep_for(200ms);
  ConnectOptions co;
  co.tls = {pki.client_cert, pki.client_key, pki.ca, false};
  co.retries = 2;
  Message m;
  m.op = "test.echo";
  m.meta["k"] = "v";
  EXPECT_EQ(stream::make_endpoint("127.0.0.1:0", "127.0.0.1", listener->port(), "localhost", co)->call(m).meta.at("k"), "v");

  // Plaintext (--insecure) connections count per address too.
  stream::ListenOptions p;
  p.host = "127.0.0.1";
  p.tls.insecure = true;
  p.max_connections_per_address = 2;
  auto plain = stream::Listener::start(echo_service(), p);
  const int x = dial_from("127.0.0.1", plain->port()), y = dial_from("127.0.0.1", plain->port());
  std::this_thread::sleep_for(200ms);
  const int z = dial_from("127.0.0.1", plain->port());
  EXPECT_TRUE(closed_by_server(z, 2s)) << "a third connection from one address was held";
  EXPECT_FALSE(closed_by_server(x, 10ms));
  for (int fd : {x, y, z}) close(fd);
}

}  // namespace
}  // namespace veil::transport
