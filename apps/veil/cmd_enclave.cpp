// veil enclave: the trusted party of obfuscatune, standing for a TEE. Publishes a (simulated)
// attestation report, receives the model and the dataset sealed to its fresh key, and fine-tunes
// inside against `veil worker --design obfuscatune` processes. `--print-measurement` prints the
// measurement that model and data owners expect, and exits.

#include <cstdio>

#include "command.h"
#include "option_groups.h"
#include "option_lists.h"
#include "veil/designs/obfuscatune/enclave_service.h"
#include "veil/tee/attestation.h"
#include "veil/tee/signing.h"
#include "veil/transport/serve.h"
#include "veil/util/check.h"
#include "veil/util/file_io.h"

namespace veil::cli {
namespace {

struct EnclaveFlags {
  std::string listen, workers, scratch, model_owner_key, attestation_key_out;
  std::vector<std::string> opts;
  std::string tls_cert, tls_key, tls_ca, tls_server_name;
  bool insecure = false, print_measurement = false;
  double max_message_mb = 2048;
  int stream_port = 0;
};

int run_enclave(const EnclaveFlags& f) {
  designs::obfuscatune::EnclaveSettings s;
  s.options = parse_key_values(f.opts);
  s.parties.workers = split_list(f.workers, "--workers");
  s.parties.tls_cert = f.tls_cert;
  s.parties.tls_key = f.tls_key;
  s.parties.tls_ca = f.tls_ca;
  s.parties.tls_server_name = f.tls_server_name;
  s.parties.insecure = f.insecure;
  s.scratch = f.scratch;
  VEIL_CHECK_ARG(!f.model_owner_key.empty(),
                 "--model-owner-key FILE is required: the model owner's public key (PEM key or certificate); the "
                 "enclave accepts only a model signed by it, and the measurement covers it");
  s.model_owner_key = tee::VerifyKey::load_pem(f.model_owner_key).der();
  if (f.print_measurement) {
    std::printf("%s\n", tee::measure_self(s.measured_config()).c_str());
    return 0;
  }
  VEIL_CHECK_ARG(!f.listen.empty(), "--listen HOST:PORT is required");
  VEIL_CHECK_ARG(f.max_message_mb > 0 && f.max_message_mb <= 1 << 20, "--max-message-mb must be in (0, 1048576]");
  for (const auto& w : s.parties.workers) (void)transport::parse_address(w);
  (void)transport::parse_address(f.listen);
  auto attester = std::make_shared<tee::SimulatedAttester>();
  const std::string attestation_key = tee::to_hex(attester->public_key());
  if (!f.attestation_key_out.empty()) util::write_file_atomic(f.attestation_key_out, attestation_key + "\n");
  designs::obfuscatune::EnclaveParty party(std::move(s), attester);
  auto service = std::make_shared<transport::Service>("enclave");
  party.install(*service);

  transport::ServeOptions so;
  so.address = f.listen;
  so.tls = {f.tls_cert, f.tls_key, f.tls_ca, f.insecure};
  so.max_message_bytes = static_cast<std::size_t>(f.max_message_mb * (1 << 20));
  so.max_concurrent_calls = 4;
  VEIL_CHECK_ARG(f.stream_port >= -1 && f.stream_port <= 65535, "--stream-port must be in [-1, 65535] (0: a free port, -1: none)");
  so.stream_port = f.stream_port;
  auto server = transport::Server::start(service, so);
  std::fprintf(stderr,
               "veil enclave: SIMULATED attestation (no hardware TEE: see docs/tee.md); measurement %s; %s; workers: %s\n",
               party.measurement().c_str(), f.insecure ? "NO TLS" : "mutual TLS",
               f.workers.empty() ? "one in-process (single-machine mode)" : f.workers.c_str());
  if (server->stream_port() > 0)
    std::fprintf(stderr, "veil enclave: calls also on the TLS stream at port %d (docs/transport.md)\n", server->stream_port());
  std::fprintf(stderr,
               "veil enclave: simulated attestation key %s (verifiers pin it: --allow-simulated --attestation-key); "
               "session %s\n",
               attestation_key.c_str(), tee::to_hex(party.session()).c_str());
  std::printf("veil enclave: listening on %s\n", server->address().c_str());
  std::fflush(stdout);

  serve_until_signal(*server, "veil enclave");
  std::fprintf(stderr, "veil enclave: stopped; private files removed\n");
  return 0;
}

Action add_enclave(CLI::App& app, const CommonOptions&) {
  auto f = std::make_shared<EnclaveFlags>();
  auto* cmd = app.add_subcommand("enclave", "the trusted party of obfuscatune (SIMULATED attestation): receives sealed "
                                            "model and data, fine-tunes with untrusted workers");
  cmd->add_option("--listen", f->listen, "HOST:PORT to serve on (port 0 picks one; printed on stdout)");
  cmd->add_option("--stream-port", f->stream_port,
                  "port of the TLS stream the calls use (same host and TLS files; 0 picks one, -1: gRPC only)")
      ->capture_default_str();
  cmd->add_option("--workers", f->workers, "the workers (`veil worker --design obfuscatune`), host:port,...; none: in-process");
  cmd->add_option("--opt", f->opts, "obfuscatune option key=value (repeatable; part of the measurement)");
  cmd->add_option("--model-owner-key", f->model_owner_key,
                  "the model owner's public key (PEM public key or certificate): only a model signed by it is "
                  "accepted (required; part of the measurement)");
  cmd->add_option("--attestation-key-out", f->attestation_key_out,
                  "write the simulated attestation public key (hex) here, for verifiers' --attestation-key");
  cmd->add_option("--scratch", f->scratch, "RAM directory for plaintext files the fine-tune reads (default /dev/shm)");
  add_tls_options(*cmd, TlsTargets<std::string>{&f->tls_cert, &f->tls_key, &f->tls_ca, &f->tls_server_name, &f->insecure},
                  "the owners and workers");
  cmd->add_flag("--print-measurement", f->print_measurement, "print the measurement for these options and exit");
  cmd->add_option("--max-message-mb", f->max_message_mb, "largest request payload accepted, MiB")->capture_default_str();
  return [f] { return run_enclave(*f); };
}

const CommandRegistrar kRegistrar{85, add_enclave};

}  // namespace
}  // namespace veil::cli
