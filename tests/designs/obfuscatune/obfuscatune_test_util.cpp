#include "designs/obfuscatune/obfuscatune_test_util.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "veil/designs/registry.h"
#include "veil/transport/in_process.h"

namespace veil::designs::obfuscatune::testing {

LocalWorker honest_worker(int layers) {
  register_builtin_designs();
  LocalWorker w;
  w.service = std::make_shared<transport::Service>("worker-0");
  WorkerContext ctx;
  ctx.last_layer = layers;
  designs::install_worker("obfuscatune", *w.service, ctx);
  w.service->set_tap(std::make_shared<transport::AuditTap>());
  w.pool = transport::WorkerPool({{transport::connect_in_process(w.service, transport::Peer::identified(transport::Role::kDataOwner, "test")), 0, layers}});
  return w;
}

LocalWorker corrupt_worker(int layers, const std::string& op, float delta) {
  auto honest = honest_worker(layers);
  LocalWorker w;
  w.service = std::make_shared<transport::Service>("evil-worker");
  auto real = honest.service;
  for (const char* name : {"obfuscatune.load", "obfuscatune.forward", "obfuscatune.backward"}) {
    const std::string n = name;
    w.service->on(n, transport::kWorkerCallers, [real, n, op, delta](const transport::Message& q) {
      transport::Message r = real->dispatch(q, transport::Peer::identified(transport::Role::kDataOwner, "test"));
      if (n == op)
        for (auto& [key, t] : r.tensors) {
          t = t.clone();
          t[0][0] += delta;
        }
      return r;
    });
  }
  w.pool = transport::WorkerPool({{transport::connect_in_process(w.service, transport::Peer::identified(transport::Role::kDataOwner, "test")), 0, layers}});
  return w;
}

std::shared_ptr<model::LoraAdapters> seeded_lora(const model::ModelConfig& cfg) {
  model::LoraConfig lc;
  lc.r = 4;
  lc.alpha = 8;
  auto a = std::make_shared<model::LoraAdapters>(cfg, lc, 7);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  at::NoGradGuard g;
  for (auto& [site, p] : a->pairs()) p.b.normal_(0, 0.05, gen);
  return a;
}

std::shared_ptr<model::LoraAdapters> clone(const model::LoraAdapters& a, const model::ModelConfig& cfg) {
  std::map<model::LinearSite, model::LoraPair> w;
  for (const auto& [site, p] : a.pairs()) w[site] = {p.a.detach().clone(), p.b.detach().clone()};
  auto out = std::make_shared<model::LoraAdapters>(cfg, a.config(), std::move(w));
  for (auto& t : out->parameters()) t.requires_grad_(true);
  return out;
}

std::filesystem::path fixture(const std::string& name) {
  return std::filesystem::path(VEIL_SOURCE_DIR) / "tests/data" / name;
}

}  // namespace veil::designs::obfuscatune::testing
