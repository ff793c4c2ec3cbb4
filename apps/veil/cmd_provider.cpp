// veil provider seal: the model owner attests `veil enclave` against the measurement it expects and
// sends its checkpoint sealed to the enclave's key.
// veil enclave-client finetune: the data owner does the same with its dataset, has the enclave
// fine-tune (obfuscatune) and receives the adapter sealed to its own key. (This is a command of
// its own rather than `veil finetune --design obfuscatune --enclave`: the data owner holds neither
// the model nor its tokenizer, which run_finetune needs locally.)
#include <cstdio>

#include "command.h"
#include "veil/designs/obfuscatune/enclave_client.h"
#include "veil/transport/connect.h"
#include "veil/util/check.h"

namespace veil::cli {
namespace {

struct OwnerFlags {
  std::string enclave, measurement, model, data, out;
  std::string tls_cert, tls_key, tls_ca, tls_server_name;
  bool insecure = false;
  double chunk_mb = 4;
  designs::obfuscatune::EnclaveFinetune ft;
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
  cmd->add_option("--tls-cert", f.tls_cert, "this party's certificate (PEM)");
  cmd->add_option("--tls-key", f.tls_key, "this party's private key (PEM)");
  cmd->add_option("--tls-ca", f.tls_ca, "CA that signs the enclave's certificate (PEM)");
  cmd->add_option("--tls-server-name", f.tls_server_name, "name the enclave's certificate carries (default: the host)");
  cmd->add_flag("--insecure", f.insecure, "no TLS: loopback only, for tests");
  cmd->add_option("--chunk-mb", f.chunk_mb, "sealed chunk size, MiB")->capture_default_str();
}

int run_seal(const OwnerFlags& f) {
  auto ep = connect_enclave(f);
  auto report = designs::obfuscatune::attest_enclave(*ep, f.measurement);
  const auto n = designs::obfuscatune::seal_model(*ep, report, f.model, chunk_bytes(f));
  std::printf("sealed %zu bytes of %s to enclave %s (measurement %s%s)\n", n, f.model.c_str(), f.enclave.c_str(),
              report.measurement.c_str(), report.simulated ? ", SIMULATED attestation" : "");
  return 0;
}

int run_client_finetune(const OwnerFlags& f) {
  auto ep = connect_enclave(f);
  auto report = designs::obfuscatune::attest_enclave(*ep, f.measurement);
  tee::SealingKey owner;
  (void)designs::obfuscatune::seal_data(*ep, report, f.data, owner, chunk_bytes(f));
  auto summary = designs::obfuscatune::finetune_in_enclave(*ep, report, owner, f.ft, f.out);
  std::printf("%s\nadapter written to %s\n", summary.dump(2).c_str(), f.out.c_str());
  return 0;
}

Action add_provider(CLI::App& app, const CommonOptions&) {
  auto f = std::make_shared<OwnerFlags>();
  auto* provider = app.add_subcommand("provider", "model owner: send a checkpoint sealed to an attested enclave");
  provider->require_subcommand(1);
  auto* seal = provider->add_subcommand("seal", "attest the enclave and seal the model to it");
  seal->add_option("--model", f->model, "HF directory or llama2.c .bin")->required()->check(CLI::ExistingPath);
  add_connection(seal, *f);
  return [f] { return run_seal(*f); };
}

Action add_enclave_client(CLI::App& app, const CommonOptions&) {
  auto f = std::make_shared<OwnerFlags>();
  auto* client = app.add_subcommand("enclave-client", "data owner: fine-tune inside an attested enclave");
  client->require_subcommand(1);
  auto* ft = client->add_subcommand("finetune", "seal the dataset to the enclave, fine-tune there, receive the adapter");
  ft->add_option("--data", f->data, ".jsonl or text dataset")->required()->check(CLI::ExistingFile);
  ft->add_option("--out", f->out, "where the adapter (PEFT) and summary.json go")->required();
  ft->add_option("--max-steps", f->ft.steps, "optimizer steps")->capture_default_str();
  ft->add_option("--batch-size", f->ft.batch_size)->capture_default_str();
  ft->add_option("--grad-accum", f->ft.grad_accum)->capture_default_str();
  ft->add_option("--seq-len", f->ft.seq_len)->capture_default_str();
  ft->add_option("--max-examples", f->ft.max_examples, "0: all")->capture_default_str();
  ft->add_option("--lr", f->ft.lr)->capture_default_str();
  ft->add_option("--lora-r", f->ft.rank)->capture_default_str();
  ft->add_option("--lora-alpha", f->ft.alpha)->capture_default_str();
  ft->add_option("--seed", f->ft.seed)->capture_default_str();
  add_connection(ft, *f);
  return [f] { return run_client_finetune(*f); };
}

const CommandRegistrar kProviderRegistrar{86, add_provider};
const CommandRegistrar kClientRegistrar{87, add_enclave_client};

}  // namespace
}  // namespace veil::cli
