// veil worker: an untrusted compute node. Serves one design's worker handlers over gRPC (mutual TLS
// by default) for a range of layers, until SIGTERM or SIGINT, then finishes the calls in flight and
// exits 0. It never receives tokens or labels: only what its design sends (see docs/transport.md).
#include <cstdio>
#include <thread>

#include "command.h"
#include "option_groups.h"
#include "option_lists.h"
#include "veil/designs/layer_range.h"
#include "veil/designs/registry.h"
#include "veil/transport/audit_dir.h"
#include "veil/transport/serve.h"
#include "veil/transport/service.h"
#include "veil/util/check.h"

namespace veil::cli {
namespace {

struct WorkerFlags {
  std::string model, layers, listen, design = "plain", audit_dir, party = "worker";
  std::vector<std::string> opts;
  std::vector<std::string> allow_peers;  // --allow-peer: identities admitted (empty = any of an admitted role)
  std::string tls_cert, tls_key, tls_ca;
  bool insecure = false;
  double max_message_mb = 2048;
  int stream_port = 0;
  int max_calls = 8;
  double grace_s = 30;
  bool audit_full = false;
  std::uint64_t audit_sample = 16;
  double audit_max_mb = 1024;
};

// A diagnostic design for checking a deployment's wire (TLS, reachability, bandwidth) without a
// model: "echo.echo" returns what it was sent; ints[0], when given, is a delay in milliseconds
// (at most 10 s) before the reply.
void register_echo_worker() {
  designs::register_worker("echo", [](transport::Service& service, const designs::WorkerContext&) {
    service.on("echo.echo", transport::kWorkerCallers, [](const transport::Message& m) {
      if (!m.ints.empty() && m.ints[0] > 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(std::min(m.ints[0], 10000)));
      transport::Message r = m;
      return r;
    });
  });
}

int run_worker(const WorkerFlags& f) {
  VEIL_CHECK_ARG(!f.listen.empty(), "--listen HOST:PORT is required");
  VEIL_CHECK_ARG(f.max_message_mb > 0 && f.max_message_mb <= 1 << 20, "--max-message-mb must be in (0, 1048576]");
  VEIL_CHECK_ARG(f.max_calls >= 1 && f.max_calls <= 1024, "--max-calls must be in [1, 1024]");
  VEIL_CHECK_ARG(f.grace_s >= 0, "--grace must be non-negative");
  VEIL_CHECK_ARG(f.stream_port >= -1 && f.stream_port <= 65535, "--stream-port must be in [-1, 65535] (0: a free port, -1: none)");
  VEIL_CHECK_ARG(f.model.empty() || std::filesystem::exists(f.model), "--model ", f.model, ": not found");
  (void)transport::parse_address(f.listen);
  designs::WorkerContext ctx;
  ctx.model = f.model;
  std::tie(ctx.first_layer, ctx.last_layer) = designs::parse_layer_range(f.layers);
  ctx.options = parse_key_values(f.opts);

  auto service = std::make_shared<transport::Service>(f.party);
  VEIL_CHECK_ARG(f.audit_max_mb >= 0, "--audit-max-mb must be non-negative (0: no cap)");
  if (!f.audit_dir.empty()) {
    transport::AuditOptions ao;
    ao.full = f.audit_full;
    ao.sample_every = f.audit_sample;
    ao.max_bytes = static_cast<std::uint64_t>(f.audit_max_mb * (1 << 20));
    service->set_tap(std::make_shared<transport::DirectoryTap>(f.audit_dir, ao));
  }
  service->allow_only(f.allow_peers);
  designs::install_worker(f.design, *service, ctx);

  transport::ServeOptions so;
  so.address = f.listen;
  so.tls = {f.tls_cert, f.tls_key, f.tls_ca, f.insecure};
  so.max_message_bytes = static_cast<std::size_t>(f.max_message_mb * (1 << 20));
  so.max_concurrent_calls = f.max_calls;
  so.shutdown_grace = std::chrono::milliseconds(static_cast<std::int64_t>(f.grace_s * 1000));
  so.stream_port = f.stream_port;
  auto server = transport::Server::start(service, so);

  std::fprintf(stderr, "veil worker: design %s, layers %d:%s, %s%s\n", f.design.c_str(), ctx.first_layer,
               ctx.last_layer < 0 ? "end" : std::to_string(ctx.last_layer).c_str(),
               f.insecure ? "NO TLS" : "mutual TLS", f.audit_dir.empty() ? "" : (", audit tap in " + f.audit_dir).c_str());
  if (server->stream_port() > 0)
    std::fprintf(stderr, "veil worker: calls also on the TLS stream at port %d (docs/transport.md)\n", server->stream_port());
  std::printf("veil worker: listening on %s\n", server->address().c_str());
  std::fflush(stdout);

  serve_until_signal(*server, "veil worker");
  const auto s = server->stats();
  std::fprintf(stderr, "veil worker: stopped after %llu calls, %llu bytes received, %llu bytes sent\n",
               static_cast<unsigned long long>(s.calls), static_cast<unsigned long long>(s.bytes_received),
               static_cast<unsigned long long>(s.bytes_sent));
  return 0;
}

Action add_worker(CLI::App& app, const CommonOptions&) {
  register_echo_worker();
  auto f = std::make_shared<WorkerFlags>();
  auto* cmd = app.add_subcommand("worker", "serve a design's untrusted compute (linear layers) to a data owner over mutual TLS");
  cmd->add_option("--model", f->model, "base weights (HF directory or llama2.c .bin), for designs that publish them to workers");
  cmd->add_option("--layers", f->layers, "layers A:B (A..B-1) this worker serves; default all");
  cmd->add_option("--listen", f->listen, "HOST:PORT to serve on (port 0 picks one; printed on stdout)")->required();
  cmd->add_option("--stream-port", f->stream_port,
                  "port of the TLS stream the calls use (same host and TLS files; 0 picks one, -1: gRPC only)")
      ->capture_default_str();
  std::string designs;
  for (const auto& d : designs::worker_designs()) designs += (designs.empty() ? "" : ", ") + d;
  cmd->add_option("--design", f->design, "design whose worker half to run (" + designs + ")")->capture_default_str();
  cmd->add_option("--opt", f->opts, "design option key=value (repeatable)");
  add_tls_options(*cmd, TlsTargets<std::string>{&f->tls_cert, &f->tls_key, &f->tls_ca, nullptr, &f->insecure},
                  "the clients (data owner, enclave) this worker serves");
  cmd->add_option("--allow-peer", f->allow_peers,
                  "admit only this caller identity, veil://ROLE/NAME (repeatable; checked before any op runs; "
                  "default: any enclave or data owner of the CA)");
  cmd->add_option("--audit-dir", f->audit_dir,
                  "record what this worker received and sent here: every message indexed and hashed, the bytes of a "
                  "sample kept (docs/transport.md, Audit taps)");
  cmd->add_flag("--audit-full", f->audit_full, "keep the bytes of every message in --audit-dir, not only a sample");
  cmd->add_option("--audit-sample", f->audit_sample, "without --audit-full: keep the bytes of every Nth message (0: hashes only)")
      ->capture_default_str();
  cmd->add_option("--audit-max-mb", f->audit_max_mb, "stop keeping message bytes past this many MiB (0: no cap)")
      ->capture_default_str();
  cmd->add_option("--party", f->party, "this party's name in audit records")->capture_default_str();
  cmd->add_option("--max-message-mb", f->max_message_mb, "largest request payload accepted, MiB")->capture_default_str();
  cmd->add_option("--max-calls", f->max_calls, "requests handled at once (memory bound)")->capture_default_str();
  cmd->add_option("--grace", f->grace_s, "seconds calls in flight get to finish on SIGTERM")->capture_default_str();
  return [f] { return run_worker(*f); };
}

const CommandRegistrar kRegistrar{80, add_worker};

}  // namespace
}  // namespace veil::cli
