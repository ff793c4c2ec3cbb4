// An obfuscatune enclave party in process (one session), with its model owner's signing key, its
// simulated attester (whose key the owners pin) and an in-process worker with an audit tap; used by
// the enclave service and session tests.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "veil/designs/obfuscatune/enclave_client.h"
#include "veil/designs/obfuscatune/enclave_service.h"
#include "veil/designs/registry.h"
#include "veil/tee/attestation.h"
#include "veil/tee/signing.h"
#include "veil/transport/in_process.h"

namespace veil::designs::obfuscatune::testing {

inline const std::filesystem::path kModel = std::filesystem::path(VEIL_SOURCE_DIR) / "models/veil-austen-tiny";

struct Deployment {
  std::shared_ptr<transport::Service> worker = std::make_shared<transport::Service>("worker-0");
  std::shared_ptr<transport::Service> enclave_service = std::make_shared<transport::Service>("enclave");
  std::shared_ptr<tee::SimulatedAttester> attester = std::make_shared<tee::SimulatedAttester>();
  tee::SigningKey model_owner = tee::SigningKey::generate();
  std::unique_ptr<EnclaveParty> party;
  std::shared_ptr<transport::Endpoint> enclave;  // the data owner's connection (veil://data-owner/test)
  std::shared_ptr<transport::Endpoint> owner;    // the model owner's (veil://model-owner/test)

  explicit Deployment(std::size_t max_data_bytes = std::size_t{4} << 30) {
    register_builtin_designs();
    worker->set_tap(std::make_shared<transport::AuditTap>());
    enclave_service->set_tap(std::make_shared<transport::AuditTap>());
    EnclaveSettings s;
    // Its own directory: scratch_dir() empties the test's directory each time it is called.
    s.scratch = std::filesystem::temp_directory_path() / ("veil-enclave-scratch-" + std::to_string(::getpid()));
    std::filesystem::create_directories(s.scratch);
    s.model_owner_key = model_owner.public_key();
    s.max_data_bytes = max_data_bytes;
    auto w = worker;
    auto installed = std::make_shared<bool>(false);
    s.open_pool = [w, installed](const model::ModelConfig& cfg) {
      if (!*installed) {
        WorkerContext ctx;
        ctx.last_layer = static_cast<int>(cfg.num_layers);
        install_worker("obfuscatune", *w, ctx);
        *installed = true;
      }
      return transport::WorkerPool(
          {{transport::connect_in_process(w, transport::Peer::identified(transport::Role::kEnclave, "test")), 0,
            static_cast<int>(cfg.num_layers)}});
    };
    party = std::make_unique<EnclaveParty>(std::move(s), attester);
    party->install(*enclave_service);
    enclave = transport::connect_in_process(enclave_service, transport::Peer::identified(transport::Role::kDataOwner, "test"));
    owner = transport::connect_in_process(enclave_service, transport::Peer::identified(transport::Role::kModelOwner, "test"));
  }

  // What an owner who allows simulated reports and pinned this attester's key checks.
  [[nodiscard]] AttestationPolicy policy() const {
    AttestationPolicy p;
    p.measurement = party->measurement();
    p.allow_simulated = true;
    p.attestation_key = attester->public_key();
    return p;
  }
  [[nodiscard]] tee::AttestationReport attest() const { return attest_enclave(*enclave, policy()); }
  // The model owner seals the tiny model.
  SealedModel seal_genuine_model() const { return seal_model(*owner, attest(), kModel, model_owner, std::size_t{1} << 20); }
};

}  // namespace veil::designs::obfuscatune::testing
