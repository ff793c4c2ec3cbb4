// veil provider seal: the model owner attests `veil enclave` against the measurement it expects and
// sends its checkpoint sealed to the enclave's key. (The data owner's side is `veil finetune
// --design obfuscatune --enclave HOST:PORT --opt measurement=HEX --data ...` and `veil generate
// --design obfuscatune --enclave ...`: enclave_client.h.)
#include <cstdio>

#include "command.h"
#include "option_groups.h"
#include "veil/designs/obfuscatune/enclave_client.h"
#include "veil/tee/signing.h"
#include "veil/transport/connect.h"
#include "veil/util/check.h"

namespace veil::cli {
namespace {

struct OwnerFlags {
  std::string enclave, measurement, model, signing_key, attestation_key;
  bool allow_simulated = false;
  std::string tls_cert, tls_key, tls_ca, tls_server_name;
  bool insecure = false;
  double chunk_mb = 4;
};

std::shared_ptr<transport::Endpoint> connect_enclave(const OwnerFlags& f) {
  transport::ConnectOptions o;
  o.tls = {f.tls_cert, f.tls_key, f.tls_ca, f.insecure};
  o.tls_server_name = f.tls_server_name;
  return transport::connect(f.enclave, o);
}

std::size_t chunk_bytes(const OwnerFlags& f) {
  VEIL_CHECK_ARG(f.chunk_mb > 0 && f.chunk_mb <= 1024, "--chunk-mb must be in (0, 1024]");
  return static_cast<std::size_t>(f.chunk_mb * (1 << 20));
}

void add_connection(CLI::App* cmd, OwnerFlags& f) {
  cmd->add_option("--enclave", f.enclave, "the enclave's HOST:PORT")->required();
  cmd->add_option("--expect-measurement", f.measurement,
                  "the measurement (hex SHA-256) the enclave must report (`veil enclave --print-measurement`)")
      ->required();
  add_tls_options(*cmd, TlsTargets<std::string>{&f.tls_cert, &f.tls_key, &f.tls_ca, &f.tls_server_name, &f.insecure}, "the enclave");
  cmd->add_option("--chunk-mb", f.chunk_mb, "sealed chunk size, MiB")->capture_default_str();
  cmd->add_flag("--allow-simulated", f.allow_simulated,
                "accept a SIMULATED attestation report (no hardware TEE; a loud warning is printed; docs/tee.md)");
  cmd->add_option("--attestation-key", f.attestation_key,
                  "the simulated attester's public key, hex or a file holding it (`veil enclave --attestation-key-out`)");
}

int run_seal(const OwnerFlags& f) {
  const auto key = tee::SigningKey::load_pem(f.signing_key);
  designs::obfuscatune::AttestationPolicy policy;
  policy.measurement = f.measurement;
  policy.allow_simulated = f.allow_simulated;
  if (!f.attestation_key.empty()) policy.attestation_key = tee::read_attestation_key(f.attestation_key);
  auto ep = connect_enclave(f);
  auto report = designs::obfuscatune::attest_enclave(*ep, policy);
  const auto sealed = designs::obfuscatune::seal_model(*ep, report, f.model, key, chunk_bytes(f));
  std::printf("sealed %zu bytes of %s to enclave %s (measurement %s%s); session %s; model hash %s\n", sealed.bytes,
              f.model.c_str(), f.enclave.c_str(), report.measurement.c_str(),
              report.simulated ? ", SIMULATED attestation" : "", tee::to_hex(report.session).c_str(),
              tee::to_hex(sealed.model_hash).c_str());
  return 0;
}

Action add_provider(CLI::App& app, const CommonOptions&) {
  auto f = std::make_shared<OwnerFlags>();
  auto* provider = app.add_subcommand("provider", "model owner: send a checkpoint sealed to an attested enclave");
  provider->require_subcommand(1);
  auto* seal = provider->add_subcommand("seal", "attest the enclave and seal the model to it");
  seal->add_option("--model", f->model, "HF directory or llama2.c .bin")->required()->check(CLI::ExistingPath);
  seal->add_option("--signing-key", f->signing_key,
                   "the model owner's private key (PEM; e.g. its TLS key) whose public half the enclave pins "
                   "(`veil enclave --model-owner-key`)")
      ->required();
  add_connection(seal, *f);
  return [f] { return run_seal(*f); };
}

const CommandRegistrar kProviderRegistrar{86, add_provider};

}  // namespace
}  // namespace veil::cli
