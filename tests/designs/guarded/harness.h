// Shared set-up of the guarded-design tests: the tiny pretrained model, fixed batches, and a
// split/gradfree server in this process whose audit tap the test reads.
#pragma once

#include <filesystem>
#include <memory>

#include <ATen/ATen.h>

#include "veil/designs/guarded/split.h"
#include "veil/designs/registry.h"
#include "veil/train/finetune.h"
#include "veil/transport/in_process.h"
#include "veil/transport/service.h"

namespace veil::guarded_test {

inline std::filesystem::path tiny_model() { return std::filesystem::path(VEIL_SOURCE_DIR) / "models/veil-austen-tiny"; }

inline train::FinetuneConfig base_config(std::map<std::string, std::string> opts = {}) {
  train::FinetuneConfig c;
  c.model = tiny_model();
  c.lora.r = 4;
  c.seed = 7;
  c.optim.lr = 3e-3;
  c.optim.total_steps = 4;
  c.batch_size = 2;  // the split server sees every micro-batch at [batch_size, seq_len]: the tests' shape
  c.seq_len = 24;
  c.design_options = std::move(opts);
  return c;
}

// Deterministic micro-batches of token ids with next-token labels.
inline std::vector<train::MicroBatch> batches(int n, std::int64_t b = 2, std::int64_t t = 24, std::uint64_t seed = 3) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::vector<train::MicroBatch> out;
  for (int i = 0; i < n; ++i) {
    auto ids = at::randint(3, 1000, {b, t + 1}, gen, at::kLong);
    out.push_back({ids.narrow(1, 0, t).contiguous(), ids.narrow(1, 1, t).contiguous()});
  }
  return out;
}

struct TappedServer {
  std::shared_ptr<transport::Service> service;
  std::shared_ptr<transport::AuditTap> tap;
  std::shared_ptr<transport::Endpoint> endpoint;
};

inline TappedServer tapped_server(const std::string& design) {
  designs::register_builtin_designs();
  TappedServer s;
  s.service = std::make_shared<transport::Service>("server");
  designs::WorkerContext ctx;
  ctx.model = tiny_model();
  designs::install_worker(design, *s.service, ctx);
  s.tap = std::make_shared<transport::AuditTap>();
  s.service->set_tap(s.tap);
  s.endpoint = transport::connect_in_process(s.service, transport::Peer::identified(transport::Role::kDataOwner, "test"));
  return s;
}

}  // namespace veil::guarded_test
