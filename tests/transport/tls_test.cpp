// Mutual TLS with certificates from veil's issuer (tls_support.h): a client with a certificate from
// the worker's CA gets through; no certificate, a certificate from another CA, or no TLS at all
// does not, and its call never reaches a handler.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "transport/tls_support.h"
#include "veil/transport/connect.h"
#include "veil/transport/serve.h"

namespace veil::transport {
namespace {

class Tls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { pki_ = new testing::TestPki(testing::TestPki::make("veil_tls")); }
  static void TearDownTestSuite() { delete pki_; }
  void SetUp() override {
    if (!pki_->error.empty()) GTEST_SKIP() << pki_->error;
    service_ = std::make_shared<Service>("worker-0");
    service_->on("test.double", kWorkerCallers, [this](const Message& m) {
      ++calls_;
      Message r;
      r.tensors["y"] = m.tensor("x") * 2;
      return r;
    });
    ServeOptions so;
    so.address = "127.0.0.1:0";
    so.tls = {pki_->server_cert, pki_->server_key, pki_->ca, false};
    server_ = Server::start(service_, so);
  }
  ConnectOptions client(std::filesystem::path cert, std::filesystem::path key, std::filesystem::path ca) {
    ConnectOptions co;
    co.tls = {std::move(cert), std::move(key), std::move(ca), false};
    co.retries = 0;
    co.deadline = std::chrono::seconds(5);
    return co;
  }
  Message request() {
    Message m;
    m.op = "test.double";
    m.tensors["x"] = at::ones({3});
    return m;
  }
  void expect_rejected(const ConnectOptions& co, const char* what) {
    auto ep = connect("localhost:" + std::to_string(server_->port()), co);
    try {
      (void)ep->call(request());
      ADD_FAILURE() << what << ": call went through";
    } catch (const TransportError& e) {
      EXPECT_TRUE(e.code() == ErrorCode::kUnavailable || e.code() == ErrorCode::kUnauthenticated) << what << ": " << e.what();
    }
    EXPECT_EQ(calls_, 0) << what;
  }

  static testing::TestPki* pki_;
  std::shared_ptr<Service> service_;
  std::unique_ptr<Server> server_;
  int calls_ = 0;
};
testing::TestPki* Tls::pki_ = nullptr;

TEST_F(Tls, MutualTlsCallWorks) {
  auto ep = connect("localhost:" + std::to_string(server_->port()), client(pki_->client_cert, pki_->client_key, pki_->ca));
  const auto r = ep->call(request());
  EXPECT_TRUE(at::equal(r.tensor("y"), at::full({3}, 2.0)));
  EXPECT_EQ(calls_, 1);
  // By IP address, naming the certificate's DNS name (gRPC does not match IP subjectAltNames).
  auto co = client(pki_->client_cert, pki_->client_key, pki_->ca);
  co.tls_server_name = "localhost";
  auto ep2 = connect(server_->address(), co);
  EXPECT_NO_THROW((void)ep2->call(request()));
  // A name the certificate does not carry is refused.
  co.tls_server_name = "worker.elsewhere";
  auto ep3 = connect(server_->address(), co);
  EXPECT_THROW((void)ep3->call(request()), TransportError);
}

TEST_F(Tls, ClientWithoutCertificateIsRejected) { expect_rejected(client({}, {}, pki_->ca), "no client certificate"); }

TEST_F(Tls, ClientFromAnotherCaIsRejected) {
  expect_rejected(client(pki_->stranger_cert, pki_->stranger_key, pki_->ca), "certificate from another CA");
}

TEST_F(Tls, ClientWithoutTlsIsRejected) {
  ConnectOptions co;
  co.tls.insecure = true;
  co.retries = 0;
  co.deadline = std::chrono::seconds(5);
  expect_rejected(co, "plaintext client");
}

TEST_F(Tls, ServerFromAnotherCaIsNotTrusted) {
  expect_rejected(client(pki_->client_cert, pki_->client_key, pki_->other_ca), "client trusting another CA");
}

TEST_F(Tls, BadTlsFilesAreClearErrors) {
  auto svc = std::make_shared<Service>("w");
  ServeOptions so;
  so.tls = {pki_->server_cert, pki_->client_key, pki_->ca, false};  // key of another certificate
  try {
    (void)Server::start(svc, so);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("does not belong"), std::string::npos) << e.what();
  }
  so.tls = {pki_->server_cert, pki_->server_key, pki_->dir / "missing.pem", false};
  EXPECT_THROW((void)Server::start(svc, so), std::invalid_argument);
  so.tls = {pki_->server_key, pki_->server_key, pki_->ca, false};  // a key where a certificate goes
  EXPECT_THROW((void)Server::start(svc, so), std::invalid_argument);
  so.tls = {{}, {}, pki_->ca, false};
  EXPECT_THROW((void)Server::start(svc, so), std::invalid_argument);
  EXPECT_THROW((void)connect("127.0.0.1:1", client(pki_->client_cert, {}, pki_->ca)), std::invalid_argument);
}

// A worker reached by IP address whose certificate names it only by DNS name: refused unless the
// client names the certificate's host (ConnectOptions::tls_server_name, --tls-server-name).
TEST(TlsServerName, WorkerReachedByIpWithADnsOnlyCertificateNeedsTheOverride) {
  auto pki = testing::TestPki::make("veil_tls_dns_only", "DNS:worker-7.veil.test");
  if (!pki.error.empty()) GTEST_SKIP() << pki.error;
  auto service = std::make_shared<Service>("worker-7");
  service->on("test.echo", kWorkerCallers, [](const Message& m) { return m; });
  ServeOptions so;
  so.address = "127.0.0.1:0";
  so.tls = {pki.server_cert, pki.server_key, pki.ca, false};
  auto server = Server::start(service, so);
  ConnectOptions co;
  co.tls = {pki.client_cert, pki.client_key, pki.ca, false};
  co.retries = 0;
  co.deadline = std::chrono::seconds(5);
  Message m;
  m.op = "test.echo";
  m.tensors["x"] = at::ones({2});
  try {
    (void)connect(server->address(), co)->call(m);
    ADD_FAILURE() << "a certificate without 127.0.0.1 was accepted for 127.0.0.1";
  } catch (const TransportError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable) << e.what();
  }
  co.tls_server_name = "worker-7.veil.test";
  EXPECT_TRUE(at::equal(connect(server->address(), co)->call(m).tensor("x"), m.tensors["x"]));
  EXPECT_TRUE(check_health(server->address(), co).serving);
}

// gRPC 1.51 matches an address against IP subjectAltNames too: a certificate for IP:127.0.0.1
// alone is accepted when dialling 127.0.0.1, without an override.
TEST(TlsServerName, IpSubjectAltNameMatchesTheDialledAddress) {
  auto pki = testing::TestPki::make("veil_tls_ip_only", "IP:127.0.0.1");
  if (!pki.error.empty()) GTEST_SKIP() << pki.error;
  auto service = std::make_shared<Service>("worker-8");
  service->on("test.echo", kWorkerCallers, [](const Message& m) { return m; });
  ServeOptions so;
  so.address = "127.0.0.1:0";
  so.tls = {pki.server_cert, pki.server_key, pki.ca, false};
  auto server = Server::start(service, so);
  ConnectOptions co;
  co.tls = {pki.client_cert, pki.client_key, pki.ca, false};
  co.retries = 0;
  co.deadline = std::chrono::seconds(5);
  Message m;
  m.op = "test.echo";
  EXPECT_NO_THROW((void)connect(server->address(), co)->call(m));
}

}  // namespace
}  // namespace veil::transport
