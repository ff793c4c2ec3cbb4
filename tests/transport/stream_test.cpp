// The TLS stream (src/transport/stream/, docs/transport.md "The TLS stream") end to end on
// loopback: advertised in Health and used by connect(); big tensors, blobs and bools exactly;
// mutual TLS refusals; deadlines, retries applied once and error codes as over gRPC; hostile bytes
// get an error frame and the listener lives; shutdown finishes the call in flight.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>

#include <ATen/ATen.h>

#include "transport/message_equal.h"
#include "transport/stream/client.h"
#include "transport/stream/frame.h"
#include "transport/tls_support.h"
#include "veil/transport/connect.h"
#include "veil/transport/serve.h"

namespace veil::transport {
namespace {

struct StreamFixture {
  std::shared_ptr<Service> service = std::make_shared<Service>("worker-0");
  std::unique_ptr<Server> server;
  std::atomic<int> calls{0};
  std::vector<std::string> seen_ids;
  std::mutex mu;

  explicit StreamFixture(TlsConfig tls = {{}, {}, {}, true}) {
    service->on("test.echo", kWorkerCallers, [this](const Message& m) {
      ++calls;
      {
        std::lock_guard lock(mu);
        seen_ids.push_back(m.request_id);
      }
      if (!m.ints.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(m.ints[0]));
      Message r = m;
      r.request_id.clear();
      return r;
    });
    service->on("test.flaky", kWorkerCallers, [this](const Message& m) {
      {
        std::lock_guard lock(mu);
        seen_ids.push_back(m.request_id);
      }
      if (++calls < 3) throw TransportError(ErrorCode::kUnavailable, "warming up");
      return Message{};
    });
    service->on("test.reject", kWorkerCallers, [](const Message&) -> Message { throw std::invalid_argument("no such layer"); });
    ServeOptions so;
    so.address = "127.0.0.1:0";
    so.tls = std::move(tls);
    server = Server::start(service, so);
  }
  // An endpoint straight to the stream listener (not through connect()'s switch).
  std::shared_ptr<Endpoint> stream_client(ConnectOptions co, const std::string& server_name = "localhost") {
    return stream::make_endpoint(server->address(), "127.0.0.1", server->stream_port(), server_name, co);
  }
};

ConnectOptions insecure(int retries = 3, std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
  ConnectOptions co;
  co.tls.insecure = true;
  co.retries = retries;
  co.deadline = deadline;
  return co;
}

Message mixed_message() {
  Message m;
  m.op = "test.echo";
  m.layer = 3;
  m.ints = {};
  m.tensors["big"] = at::randn({1500, 4096});  // 24.6 MB: several reads straight into the tensor
  m.tensors["bools"] = at::rand({37}) > 0.5;
  m.tensors["ids"] = at::arange(11, at::kLong);
  m.tensors["empty"] = at::empty({0, 5});
  m.blobs["sealed"] = std::string(3 << 20, 'x') + "end";
  m.blobs["nothing"] = "";
  m.meta["k"] = "v";
  return m;
}

// The echo's reply is the request with the id the endpoint gave it.
void expect_echo(const Message& reply, Message sent) {
  EXPECT_FALSE(reply.request_id.empty());
  sent.request_id = reply.request_id;
  testing::expect_same(reply, sent);
}

TEST(Stream, HealthAdvertisesItAndConnectUsesIt) {
  StreamFixture f;
  ASSERT_GT(f.server->stream_port(), 0);
  EXPECT_NE(f.server->stream_port(), f.server->port());
  EXPECT_EQ(check_health(f.server->address(), insecure()).stream_port, f.server->stream_port());
  auto ep = connect(f.server->address(), insecure());
  const Message m = mixed_message();
  expect_echo(ep->call(m), m);
  EXPECT_EQ(f.calls, 1);
  EXPECT_EQ(ep->stats().calls, 1u);
  EXPECT_GT(ep->stats().bytes_sent, 27000000u);

  // The listener went away (a firewalled port looks the same): connect() says so and uses gRPC.
  ServeOptions so;
  so.address = "127.0.0.1:0";
  so.tls.insecure = true;
  so.stream_port = -1;
  auto grpc_only = Server::start(f.service, so);
  EXPECT_EQ(check_health(grpc_only->address(), insecure()).stream_port, 0);
  EXPECT_NO_THROW((void)connect(grpc_only->address(), insecure())->call(m));
  EXPECT_EQ(f.calls, 2);
}

TEST(Stream, MessagesArriveExactlyOverMutualTls) {
  auto pki = testing::TestPki::make("veil_stream_tls");
  if (!pki.error.empty()) GTEST_SKIP() << pki.error;
  StreamFixture f({pki.server_cert, pki.server_key, pki.ca, false});
  ConnectOptions co;
  co.tls = {pki.client_cert, pki.client_key, pki.ca, false};
  co.retries = 0;
  co.deadline = std::chrono::seconds(10);
  const Message m = mixed_message();
  expect_echo(f.stream_client(co)->call(m), m);
  // By IP address too (the certificate carries IP:127.0.0.1).
  expect_echo(f.stream_client(co, "127.0.0.1")->call(m), m);
  EXPECT_EQ(f.calls, 2);

  auto refused = [&](ConnectOptions bad, const std::string& name, const char* what) {
    try {
      (void)f.stream_client(bad, name)->call(m);
      ADD_FAILURE() << what << ": call went through";
    } catch (const TransportError& e) {
      EXPECT_EQ(e.code(), ErrorCode::kUnavailable) << what << ": " << e.what();
    }
  };
  ConnectOptions no_cert = co;
  no_cert.tls.cert.clear();
  no_cert.tls.key.clear();
  refused(no_cert, "localhost", "no client certificate");
  ConnectOptions stranger = co;
  stranger.tls = {pki.stranger_cert, pki.stranger_key, pki.ca, false};
  refused(stranger, "localhost", "client certificate from another CA");
  ConnectOptions other_ca = co;
  other_ca.tls.ca = pki.other_ca;
  refused(other_ca, "localhost", "server from another CA");
  refused(co, "worker.elsewhere", "a name the certificate does not carry");
  refused(insecure(0), "localhost", "no TLS at all");
  EXPECT_EQ(f.calls, 2) << "a refused connection reached a handler";
}

TEST(Stream, DeadlinesRetriesAndErrorsAsOverGrpc) {
  StreamFixture f;
  Message slow;
  slow.op = "test.echo";
  slow.ints = {1500};
  try {
    (void)f.stream_client(insecure(3, std::chrono::milliseconds(300)))->call(slow);
    FAIL();
  } catch (const TransportError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDeadlineExceeded) << e.what();
  }

  // kUnavailable from the handler is retried with the same request id.
  StreamFixture g;
  Message flaky;
  flaky.op = "test.flaky";
  flaky.request_id = "fixed-id-1";
  EXPECT_NO_THROW((void)g.stream_client(insecure())->call(flaky));
  {
    std::lock_guard lock(g.mu);
    EXPECT_EQ(g.seen_ids, (std::vector<std::string>(3, "fixed-id-1")));
  }

  // A rejecting handler: kInvalidArgument naming the peer and op; the connection stays usable.
  auto ep = f.stream_client(insecure());
  Message bad;
  bad.op = "test.reject";
  try {
    (void)ep->call(bad);
    FAIL();
  } catch (const TransportError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find(f.server->address()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("no such layer"), std::string::npos) << e.what();
  }
  Message ok;
  ok.op = "test.echo";
  ok.tensors["x"] = at::ones({2});
  EXPECT_NO_THROW((void)ep->call(ok));

  // Over the server's size limit: refused before a handler runs.
  ServeOptions small;
  small.address = "127.0.0.1:0";
  small.tls.insecure = true;
  small.max_message_bytes = 1 << 10;
  auto tiny = Server::start(f.service, small);
  const int before = f.calls;
  ok.tensors["x"] = at::ones({4 << 20});  // 16 MB: the error must reach a client still writing
  try {
    (void)stream::make_endpoint(tiny->address(), "127.0.0.1", tiny->stream_port(), "localhost", insecure())->call(ok);
    FAIL();
  } catch (const TransportError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kResourceExhausted) << e.what();
  }
  EXPECT_EQ(f.calls, before);

  // Nobody listening: kUnavailable after the retries, naming the address.
  try {
    (void)stream::make_endpoint("127.0.0.1:1", "127.0.0.1", 1, "localhost", insecure(1, std::chrono::seconds(5)))->call(ok);
    FAIL();
  } catch (const TransportError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable) << e.what();
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:1"), std::string::npos) << e.what();
  }
}

// Bytes a hostile client could send on a plaintext (--insecure, loopback) stream connection; the
// answer is an error frame's code, or -1 when the connection just closed.
int raw_exchange(int port, const std::string& bytes) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -2;
  }
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  (void)::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  ::shutdown(fd, SHUT_WR);
  char prefix[stream::kPrefixBytes];
  std::size_t got = 0;
  while (got < sizeof prefix) {
    const ssize_t n = ::recv(fd, prefix + got, sizeof prefix - got, 0);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (got < sizeof prefix) return -1;
  const auto p = stream::parse_prefix(std::string_view(prefix, sizeof prefix), {});
  return p.kind == stream::Kind::kError ? static_cast<int>(p.code) : 100;
}

TEST(Stream, HostileBytesGetAnErrorFrameAndTheListenerLives) {
  StreamFixture f;
  const int port = f.server->stream_port();
  stream::Prefix p;
  p.header_bytes = 10;
  const std::string good_prefix = stream::encode_prefix(p);
  const int invalid = static_cast<int>(ErrorCode::kInvalidArgument);
  EXPECT_EQ(raw_exchange(port, "GET / HTTP/1.1\r\n\r\nxx"), invalid);                       // not the magic
  EXPECT_EQ(raw_exchange(port, good_prefix + "0123456789"), invalid);                       // not a header
  std::string reply_kind = good_prefix;
  reply_kind[4] = 'R';
  EXPECT_EQ(raw_exchange(port, reply_kind + "0123456789"), invalid);                        // not a request
  stream::Prefix huge;
  huge.header_bytes = 10;
  huge.payload_bytes = std::uint64_t{1} << 40;
  EXPECT_EQ(raw_exchange(port, stream::encode_prefix(huge)), static_cast<int>(ErrorCode::kResourceExhausted));
  huge.payload_bytes = 0;
  huge.header_bytes = 0xffffffffu;
  EXPECT_EQ(raw_exchange(port, stream::encode_prefix(huge)), static_cast<int>(ErrorCode::kResourceExhausted));
  EXPECT_EQ(raw_exchange(port, good_prefix.substr(0, 7)), -1);                              // cut short
  EXPECT_EQ(f.calls, 0);
  Message ok;
  ok.op = "test.echo";
  ok.tensors["x"] = at::ones({3});
  EXPECT_NO_THROW((void)f.stream_client(insecure())->call(ok));
  EXPECT_EQ(f.calls, 1);
}

TEST(Stream, ShutdownFinishesTheCallInFlight) {
  StreamFixture f;
  auto ep = f.stream_client(insecure(0));
  Message warm;
  warm.op = "test.echo";
  EXPECT_NO_THROW((void)ep->call(warm));  // leaves an idle pooled connection
  Message slow;
  slow.op = "test.echo";
  slow.ints = {400};
  slow.tensors["x"] = at::ones({2});
  std::thread caller([&] { EXPECT_NO_THROW((void)stream::make_endpoint(f.server->address(), "127.0.0.1",
                                                                        f.server->stream_port(), "localhost",
                                                                        insecure(0))->call(slow)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  f.server->shutdown();
  caller.join();
  EXPECT_EQ(f.calls, 2);
  EXPECT_THROW((void)ep->call(warm), TransportError);  // its idle connection was closed, nothing listens
}

TEST(Stream, AStalledHandshakeDoesNotHoldUpShutdown) {
  auto pki = testing::TestPki::make("veil_stream_stall");
  if (!pki.error.empty()) GTEST_SKIP() << pki.error;
  StreamFixture f({pki.server_cert, pki.server_key, pki.ca, false});
  // A peer that connects and never says a word: the listener is in its TLS handshake.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(f.server->stream_port()));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto t0 = std::chrono::steady_clock::now();
  f.server->shutdown();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  ::close(fd);
}

TEST(Stream, APeerThatRestartsIsFoundAgain) {
  auto f = std::make_unique<StreamFixture>();
  const std::string address = f->server->address();
  auto ep = connect(address, insecure(3, std::chrono::seconds(20)));
  Message m;
  m.op = "test.echo";
  m.tensors["x"] = at::arange(6, at::kFloat);
  expect_echo(ep->call(m), m);
  f.reset();  // the worker goes away ...
  ServeOptions so;  // ... and comes back on the same address, with a new stream port
  so.address = address;
  so.tls.insecure = true;
  auto service = std::make_shared<Service>("worker-0");
  std::atomic<int> calls{0};
  service->on("test.echo", kWorkerCallers, [&](const Message& q) {
    ++calls;
    Message r = q;
    r.request_id.clear();
    return r;
  });
  auto back = Server::start(service, so);
  expect_echo(ep->call(m), m);  // the old stream fails (usually a new port); this call goes over gRPC
  expect_echo(ep->call(m), m);  // and this one over the new stream
  EXPECT_EQ(calls, 2);
  EXPECT_GT(back->stats().calls, 0u);
}

}  // namespace
}  // namespace veil::transport
