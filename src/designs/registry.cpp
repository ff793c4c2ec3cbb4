#include "veil/designs/registry.h"

#include <mutex>
#include <stdexcept>

#include "designs/builtin.h"
#include "veil/transport/audit_dir.h"
#include "veil/transport/connect.h"
#include "veil/transport/in_process.h"
#include "veil/transport/service.h"

namespace veil::designs {
void register_worker(std::string design, WorkerInstaller installer) {
  update_design_spec(design, [&](DesignSpec& s) { s.install_worker = std::move(installer); });
}

void install_worker(const std::string& design, transport::Service& service, const WorkerContext& ctx) {
  register_builtin_designs();
  auto spec = find_design_spec(design);
  if (!spec || !spec->install_worker) {
    std::string names;
    for (const auto& n : worker_designs()) names += (names.empty() ? "" : ", ") + n;
    throw std::invalid_argument("--design '" + design + "' has no worker (designs with workers: " + names + ")");
  }
  spec->install_worker(service, ctx);
  const int first = ctx.first_layer, last = ctx.last_layer;
  service.on("worker.info", transport::kWorkerCallers, [design, first, last](const transport::Message&) {
    transport::Message r;
    r.ints = {first, last};
    r.meta["design"] = design;
    return r;
  });
}

transport::WorkerPool open_workers(const std::string& design, const train::PartyOptions& parties,
                                   const WorkerContext& ctx, int num_layers) {
  std::vector<transport::WorkerPool::Worker> workers;
  if (parties.workers.empty()) {
    WorkerContext local = ctx;
    local.first_layer = 0;
    local.last_layer = num_layers;
    auto service = std::make_shared<transport::Service>("worker-0");
    if (!parties.audit_dir.empty()) service->set_tap(std::make_shared<transport::DirectoryTap>(parties.audit_dir));
    install_worker(design, *service, local);
    // One process: hand tensors over without the codec's copy (byte counts stay the wire's),
    // except under audit, where the tap must record exactly the bytes a remote worker would get.
    const auto handover = parties.audit_dir.empty() ? transport::Handover::kShared : transport::Handover::kWire;
    // The caller is this process itself (the session, or the enclave that runs the workers in
    // process): it is named as the data owner, a role every worker admits.
    workers.push_back({transport::connect_in_process(service, transport::Peer::identified(transport::Role::kDataOwner, "local"),
                                                     handover),
                       0, num_layers});
  } else {
    transport::ConnectOptions opts;
    opts.tls = {parties.tls_cert, parties.tls_key, parties.tls_ca, parties.insecure};
    opts.tls_server_name = parties.tls_server_name;
    for (const auto& address : parties.workers) {
      auto ep = transport::connect(address, opts);
      transport::Message q;
      q.op = "worker.info";
      auto info = ep->call(q);
      if (info.ints.size() != 2) throw std::invalid_argument("worker " + address + ": malformed worker.info reply");
      auto served = info.meta.count("design") ? info.meta.at("design") : std::string("?");
      if (served != design)
        throw std::invalid_argument("worker " + address + " serves design '" + served + "', this run is '" + design + "'");
      int last = info.ints[1] < 0 ? num_layers : info.ints[1];
      workers.push_back({ep, info.ints[0], last});
    }
  }
  transport::WorkerPool pool(std::move(workers));
  pool.check_covers(num_layers);
  return pool;
}

std::vector<std::string> worker_designs() {
  std::vector<std::string> out;
  for (const auto& s : design_specs())
    if (s.install_worker) out.push_back(s.name);
  return out;
}

void register_builtin_designs() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_plain_remote();
    register_obfuscatune();
    register_he_lora();
    register_guarded_tuning();
  });
}

}  // namespace veil::designs
