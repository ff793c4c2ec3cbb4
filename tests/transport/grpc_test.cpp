// The gRPC transport end to end on loopback: big tensors in chunks, deadlines, retries applied
// once, error statuses, health, compression, hostile frames, and the audit directory. The fixture's
// server has no TLS stream (stream_test.cpp covers that wire), so every call here is gRPC's.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include <ATen/ATen.h>
#include <grpcpp/grpcpp.h>

#include "veil/transport/audit_dir.h"
#include "veil/transport/connect.h"
#include "veil/transport/serve.h"
#include "veil/v1/party.grpc.pb.h"

namespace veil::transport {
namespace {

struct Fixture {
  std::shared_ptr<Service> service = std::make_shared<Service>("worker-0");
  std::unique_ptr<Server> server;
  std::atomic<int> calls{0};
  std::vector<std::string> seen_ids;
  std::mutex mu;

  explicit Fixture(ServeOptions so = {}) {
    service->on("test.double", kWorkerCallers, [this](const Message& m) {
      ++calls;
      {
        std::lock_guard lock(mu);
        seen_ids.push_back(m.request_id);
      }
      if (!m.ints.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(m.ints[0]));
      Message r;
      r.tensors["y"] = m.tensor("x") * 2;
      r.blobs = m.blobs;
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
    so.address = "127.0.0.1:0";
    so.tls.insecure = true;
    so.stream_port = -1;
    server = Server::start(service, so);
  }
  std::shared_ptr<Endpoint> client(ConnectOptions co = {}) {
    co.tls.insecure = true;
    return connect(server->address(), co);
  }
};

TEST(Grpc, LargeTensorStreamsInChunksUnderTheFourMegabyteDefault) {
  Fixture f;
  auto ep = f.client();
  Message m;
  m.op = "test.double";
  m.tensors["x"] = at::randn({6, 1024, 1024});  // 24 MiB
  m.blobs["b"] = std::string(5 << 20, 'z');
  const auto r = ep->call(m);
  EXPECT_TRUE(at::equal(r.tensor("y"), m.tensors["x"] * 2));
  EXPECT_EQ(r.blob("b"), m.blobs["b"]);
  EXPECT_EQ(r.op, "test.double");
  const auto s = ep->stats();
  EXPECT_EQ(s.calls, 1u);
  EXPECT_GT(s.bytes_sent, (24u << 20) + (5u << 20));
  EXPECT_LT(s.bytes_sent, (24u << 20) + (5u << 20) + 256);
  EXPECT_EQ(f.server->stats().bytes_received, s.bytes_sent);
  EXPECT_EQ(f.server->stats().bytes_sent, s.bytes_received);
}

TEST(Grpc, CompressionIsTransparent) {
  Fixture f;
  ConnectOptions co;
  co.compress = true;
  auto ep = f.client(co);
  Message m;
  m.op = "test.double";
  m.tensors["x"] = at::zeros({512, 1024});
  EXPECT_TRUE(at::equal(ep->call(m).tensor("y"), m.tensors["x"]));
}

TEST(Grpc, DeadlineExceeded) {
  Fixture f;
  ConnectOptions co;
  co.deadline = std::chrono::milliseconds(200);
  auto ep = f.client(co);
  Message m;
  m.op = "test.double";
  m.ints = {1500};
  m.tensors["x"] = at::ones({2});
  try {
    (void)ep->call(m);
    FAIL();
  } catch (const TransportError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDeadlineExceeded) << e.what();
    EXPECT_NE(std::string(e.what()).find("test.double"), std::string::npos);
  }
}

TEST(Grpc, RetriesKeepTheRequestIdAndRepeatsAreAppliedOnce) {
  Fixture f;
  auto ep = f.client();
  Message m;
  m.op = "test.flaky";
  (void)ep->call(m);  // UNAVAILABLE twice, then served
  ASSERT_EQ(f.seen_ids.size(), 3u);
  EXPECT_EQ(f.seen_ids[0], f.seen_ids[1]);
  EXPECT_EQ(f.seen_ids[1], f.seen_ids[2]);

  f.calls = 0;
  Message d;
  d.op = "test.double";
  d.request_id = "retry-me";
  d.tensors["x"] = at::ones({3});
  const auto a = ep->call(d);
  const auto b = ep->call(d);  // a retry after a lost reply looks like this
  EXPECT_EQ(f.calls, 1);
  EXPECT_TRUE(at::equal(a.tensor("y"), b.tensor("y")));
}

TEST(Grpc, ErrorsKeepTheirCodeAndNameThePeerAndOp) {
  Fixture f;
  ConnectOptions co;
  co.retries = 0;
  auto ep = f.client(co);
  Message m;
  m.op = "test.double";  // lacks x
  try {
    (void)ep->call(m);
    FAIL();
  } catch (const TransportError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find(f.server->address()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("lacks tensor 'x'"), std::string::npos) << e.what();
  }
  m.op = "test.nope";
  try {
    (void)ep->call(m);
    FAIL();
  } catch (const TransportError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  }
}

TEST(Grpc, OversizedRequestsAreRefused) {
  ServeOptions so;
  so.max_message_bytes = 1 << 20;
  Fixture f(so);
  auto ep = f.client();
  Message m;
  m.op = "test.double";
  m.tensors["x"] = at::ones({512 * 1024});  // 2 MiB
  try {
    (void)ep->call(m);
    FAIL();
  } catch (const TransportError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kResourceExhausted) << e.what();
  }
  EXPECT_EQ(f.calls, 0);
}

TEST(Grpc, UnreachablePeerIsUnavailable) {
  ConnectOptions co;
  co.tls.insecure = true;
  co.retries = 1;
  co.deadline = std::chrono::seconds(5);
  auto ep = connect("127.0.0.1:1", co);
  Message m;
  m.op = "test.double";
  try {
    (void)ep->call(m);
    FAIL();
  } catch (const TransportError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable) << e.what();
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:1"), std::string::npos);
  }
}

// Frames a hostile client could send, written with the generated stub.
grpc::Status raw_call(const std::string& address, const std::vector<v1::Frame>& frames) {
  auto stub = v1::Party::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto stream = stub->Call(&ctx);
  for (const auto& fr : frames)
    if (!stream->Write(fr)) break;
  stream->WritesDone();
  v1::Frame in;
  while (stream->Read(&in)) {
  }
  return stream->Finish();
}

TEST(Grpc, HostileFramesGetAnErrorStatusAndTheServerLives) {
  Fixture f;
  v1::Frame header;
  auto* h = header.mutable_header();
  h->set_version(1);
  h->set_op("test.double");
  auto* t = h->add_tensors();
  t->set_name("x");
  t->set_dtype(v1::DTYPE_F32);
  t->add_shape(4);
  h->set_payload_bytes(16);
  v1::Frame chunk;
  chunk.set_chunk(std::string(16, '\0'));
  v1::Frame big;
  big.set_chunk(std::string((1 << 20) + 1, '\0'));

  EXPECT_EQ(raw_call(f.server->address(), {}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);          // nothing
  EXPECT_EQ(raw_call(f.server->address(), {chunk}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);     // no header
  EXPECT_EQ(raw_call(f.server->address(), {header}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);    // short
  EXPECT_EQ(raw_call(f.server->address(), {header, chunk, chunk}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(raw_call(f.server->address(), {header, header}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(raw_call(f.server->address(), {header, big}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(raw_call(f.server->address(), {v1::Frame{}}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(raw_call(f.server->address(), {header, chunk}).error_code(), grpc::StatusCode::OK);
  EXPECT_EQ(f.calls, 1);
}

TEST(Grpc, HealthAndGracefulShutdown) {
  Fixture f;
  ConnectOptions co;
  co.tls.insecure = true;
  co.deadline = std::chrono::seconds(5);
  const auto h = check_health(f.server->address(), co);
  EXPECT_TRUE(h.serving);
  EXPECT_EQ(h.party, "worker-0");
  EXPECT_EQ(h.ops, (std::vector<std::string>{"test.double", "test.flaky"}));

  // A call in flight when shutdown starts still completes.
  auto ep = f.client();
  Message m;
  m.op = "test.double";
  m.ints = {400};
  m.tensors["x"] = at::ones({2});
  std::thread caller([&] { EXPECT_NO_THROW((void)ep->call(m)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  f.server->shutdown();
  caller.join();
  EXPECT_EQ(f.calls, 1);
  co.retries = 0;
  co.deadline = std::chrono::seconds(2);
  EXPECT_THROW((void)check_health(f.server->address(), co), TransportError);
}

TEST(Grpc, InsecureIsRefusedOffLoopbackAndAddressesAreChecked) {
  auto svc = std::make_shared<Service>("w");
  ServeOptions so;
  so.tls.insecure = true;
  so.address = "0.0.0.0:0";
  try {
    (void)Server::start(svc, so);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("loopback"), std::string::npos) << e.what();
  }
  // A port another server holds is refused (no SO_REUSEPORT sharing).
  so.address = "127.0.0.1:0";
  auto first = Server::start(svc, so);
  so.address = first->address();
  try {
    (void)Server::start(svc, so);
    FAIL() << "two servers on " << so.address;
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("cannot listen"), std::string::npos) << e.what();
  }
  ConnectOptions co;
  co.tls.insecure = true;
  EXPECT_THROW((void)connect("10.1.2.3:7000", co), std::invalid_argument);
  for (const char* bad : {"nohost", "127.0.0.1:", ":80", "127.0.0.1:99999", "::1:80", "a b:1"})
    EXPECT_THROW((void)parse_address(bad), std::invalid_argument) << bad;
  EXPECT_EQ(parse_address("[::1]:80").host, "::1");
  EXPECT_TRUE(is_loopback_host("127.0.0.2"));
  EXPECT_TRUE(is_loopback_host("localhost"));
  EXPECT_FALSE(is_loopback_host("127.0.0.1.evil.com"));
  EXPECT_FALSE(is_loopback_host("0.0.0.0"));
  // TLS without a CA is a clear error, not a silent downgrade.
  EXPECT_THROW((void)connect("127.0.0.1:7000", ConnectOptions{}), std::invalid_argument);
}

TEST(Grpc, AuditDirectoryRecordsWhatTheWorkerSawByteForByte) {
  const auto dir = std::filesystem::temp_directory_path() / ("veil_audit_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  Fixture f;
  f.service->set_tap(std::make_shared<DirectoryTap>(dir));
  auto ep = f.client();
  Message m;
  m.op = "test.double";
  m.layer = 4;
  m.tensors["x"] = at::randn({3, 7});
  m.blobs["ct"] = std::string("\x00\x01secret", 8);
  (void)ep->call(m);
  const auto entries = read_audit_dir(dir);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(f.service->tap()->size(), 2u);
  EXPECT_EQ(entries[0].direction, Direction::kReceived);
  EXPECT_EQ(entries[0].party, "worker-0");
  EXPECT_EQ(entries[0].message.layer, 4);
  EXPECT_TRUE(at::equal(entries[0].message.tensor("x"), m.tensors["x"]));
  EXPECT_EQ(entries[0].message.blob("ct"), m.blobs["ct"]);
  EXPECT_EQ(entries[0].wire_bytes, ep->stats().bytes_sent);
  EXPECT_EQ(entries[1].direction, Direction::kSent);
  EXPECT_EQ(entries[1].wire_bytes, ep->stats().bytes_received);
  std::ifstream index(dir / "index.jsonl");
  std::string line;
  std::getline(index, line);
  EXPECT_NE(line.find(R"("shape":[3,7])"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("dtype":"f32")"), std::string::npos) << line;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace veil::transport
