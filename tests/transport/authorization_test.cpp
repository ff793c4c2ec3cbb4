// Per-operation authorization (issue 17): each party's certificate carries veil://ROLE/NAME, and
// every operation admits only some roles. Played here by the wrong parties over both wires (gRPC
// and the TLS stream) against the real obfuscatune enclave and worker handlers: a worker's
// certificate calling each enclave operation, the data owner sealing a model, a certificate from
// the same CA without a veil identity, and the model owner calling a worker. Each is refused with
// PERMISSION_DENIED naming the op, the peer and the roles the op admits, before any handler (or
// the audit tap) sees the request.
#include <gtest/gtest.h>

#include <unistd.h>

#include <ATen/ATen.h>

#include "transport/stream/client.h"
#include "transport/tls_support.h"
#include "veil/designs/obfuscatune/enclave_service.h"
#include "veil/designs/registry.h"
#include "veil/tee/attestation.h"
#include "veil/tee/signing.h"
#include "veil/transport/connect.h"
#include "veil/transport/serve.h"

namespace veil::transport {
namespace {
namespace fs = std::filesystem;

enum class Wire { kGrpc, kStream };
const char* wire_name(Wire w) { return w == Wire::kGrpc ? "gRPC" : "stream"; }

class Authorization : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { pki_ = new testing::TestPki(testing::TestPki::make("veil_authz")); }
  static void TearDownTestSuite() {
    delete pki_;
    pki_ = nullptr;
  }
  void SetUp() override {
    if (!pki_->error.empty()) GTEST_SKIP() << pki_->error;
  }

  // Serves `service` over mutual TLS with the enclave's certificate (both wires).
  static std::unique_ptr<Server> serve(std::shared_ptr<Service> service) {
    ServeOptions so;
    so.address = "127.0.0.1:0";
    so.tls = {pki_->enclave_cert, pki_->enclave_key, pki_->ca, false};
    return Server::start(std::move(service), so);
  }
  static std::shared_ptr<Endpoint> client(const Server& server, Wire wire, const fs::path& cert, const fs::path& key) {
    ConnectOptions co;
    co.tls = {cert, key, pki_->ca, false};
    co.retries = 0;
    co.deadline = std::chrono::seconds(20);
    co.tls_server_name = "localhost";
    if (wire == Wire::kStream)
      return stream::make_endpoint(server.address(), "127.0.0.1", server.stream_port(), "localhost", co);
    co.stream = false;
    return connect(server.address(), co);
  }
  // Calls `op` (with a payload, which must never be read) and expects a refusal naming everything.
  static void expect_denied(Endpoint& ep, const std::string& op, const std::string& peer, const std::string& admits,
                            Wire wire) {
    Message q;
    q.op = op;
    q.tensors["x"] = at::ones({1 << 18});  // 1 MiB the server must not take in
    q.blobs["sealed"] = std::string(4096, 's');
    try {
      (void)ep.call(q);
      ADD_FAILURE() << op << " accepted " << peer << " over " << wire_name(wire);
    } catch (const TransportError& e) {
      const std::string what = e.what();
      EXPECT_EQ(e.code(), ErrorCode::kPermissionDenied) << wire_name(wire) << ": " << what;
      EXPECT_NE(what.find("permission denied"), std::string::npos) << what;
      EXPECT_NE(what.find(op), std::string::npos) << what;
      EXPECT_NE(what.find(peer), std::string::npos) << what;
      EXPECT_NE(what.find(admits), std::string::npos) << what;
    }
  }

  static testing::TestPki* pki_;
};
testing::TestPki* Authorization::pki_ = nullptr;

// The enclave's handlers, as `veil enclave` installs them (no model sealed: authorization comes
// first, so the handlers are never reached).
struct Enclave {
  std::shared_ptr<Service> service = std::make_shared<Service>("enclave");
  std::unique_ptr<designs::obfuscatune::EnclaveParty> party;
  fs::path scratch = fs::temp_directory_path() / ("veil-authz-enclave-" + std::to_string(::getpid()));
  Enclave() {
    designs::register_builtin_designs();
    fs::create_directories(scratch);
    designs::obfuscatune::EnclaveSettings s;
    s.scratch = scratch;
    s.model_owner_key = tee::SigningKey::generate().public_key();  // pinned, as veil enclave requires
    party = std::make_unique<designs::obfuscatune::EnclaveParty>(std::move(s), std::make_shared<tee::SimulatedAttester>());
    party->install(*service);
    service->set_tap(std::make_shared<AuditTap>());
  }
  ~Enclave() {
    party.reset();
    std::error_code ec;
    fs::remove_all(scratch, ec);
  }
};

TEST_F(Authorization, WorkerCertificateIsRefusedByEveryEnclaveOperationOnBothWires) {
  Enclave e;
  auto server = serve(e.service);
  for (Wire wire : {Wire::kGrpc, Wire::kStream}) {
    auto worker = client(*server, wire, pki_->server_cert, pki_->server_key);
    expect_denied(*worker, "enclave.report", "worker/test", "model-owner or data-owner", wire);
    expect_denied(*worker, "enclave.seal_model", "worker/test", "admits model-owner,", wire);
    for (const char* op : {"enclave.seal_data", "enclave.finetune", "enclave.generate"})
      expect_denied(*worker, op, "worker/test", "admits data-owner,", wire);
  }
  EXPECT_EQ(e.service->tap()->size(), 0u) << "a refused request reached a handler";
}

TEST_F(Authorization, DataOwnerCannotSealTheModelNorTheModelOwnerFinetune) {
  Enclave e;
  auto server = serve(e.service);
  for (Wire wire : {Wire::kGrpc, Wire::kStream}) {
    auto owner = client(*server, wire, pki_->client_cert, pki_->client_key);
    expect_denied(*owner, "enclave.seal_model", "data-owner/test", "admits model-owner,", wire);
    auto model_owner = client(*server, wire, pki_->model_owner_cert, pki_->model_owner_key);
    for (const char* op : {"enclave.seal_data", "enclave.finetune", "enclave.generate"})
      expect_denied(*model_owner, op, "model-owner/test", "admits data-owner,", wire);
  }
  EXPECT_EQ(e.service->tap()->size(), 0u);
  // The roles the table admits get past authorization (to the handler's own checks).
  auto owner = client(*server, Wire::kStream, pki_->client_cert, pki_->client_key);
  Message q;
  q.op = "enclave.finetune";
  q.meta["config"] = "{}";
  try {
    (void)owner->call(q);
  } catch (const TransportError& err) {
    EXPECT_NE(err.code(), ErrorCode::kPermissionDenied) << err.what();
  }
}

TEST_F(Authorization, CertificateWithoutIdentityFromTheSameCaIsRefused) {
  Enclave e;
  auto server = serve(e.service);
  for (Wire wire : {Wire::kGrpc, Wire::kStream}) {
    auto anonymous = client(*server, wire, pki_->anonymous_cert, pki_->anonymous_key);
    expect_denied(*anonymous, "enclave.report", "without a veil identity", "model-owner or data-owner", wire);
    expect_denied(*anonymous, "enclave.seal_model", "no veil:// URI", "model-owner", wire);
  }
  EXPECT_EQ(e.service->tap()->size(), 0u);
}

TEST_F(Authorization, WorkersAdmitOnlyTheEnclaveAndTheDataOwner) {
  designs::register_builtin_designs();
  auto service = std::make_shared<Service>("worker-0");
  designs::WorkerContext ctx;
  ctx.last_layer = 2;
  designs::install_worker("obfuscatune", *service, ctx);
  service->set_tap(std::make_shared<AuditTap>());
  auto server = serve(service);
  for (Wire wire : {Wire::kGrpc, Wire::kStream}) {
    for (const char* op : {"obfuscatune.load", "obfuscatune.forward", "worker.info"}) {
      auto model_owner = client(*server, wire, pki_->model_owner_cert, pki_->model_owner_key);
      expect_denied(*model_owner, op, "model-owner/test", "data-owner or enclave", wire);
      auto other_worker = client(*server, wire, pki_->worker2_cert, pki_->worker2_key);
      expect_denied(*other_worker, op, "worker/other", "data-owner or enclave", wire);
    }
  }
  EXPECT_EQ(service->tap()->size(), 0u);
  // The enclave and the data owner are admitted.
  for (const auto& [cert, key] : {std::pair{pki_->enclave_cert, pki_->enclave_key}, std::pair{pki_->client_cert, pki_->client_key}}) {
    for (Wire wire : {Wire::kGrpc, Wire::kStream}) {
      Message q;
      q.op = "worker.info";
      EXPECT_EQ(client(*server, wire, cert, key)->call(q).ints, (std::vector<std::int32_t>{0, 2})) << cert;
    }
  }
}

}  // namespace
}  // namespace veil::transport
