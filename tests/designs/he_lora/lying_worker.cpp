// Test-only: a he-lora worker that lies. It serves the real he-lora worker handlers (the same
// install_worker as `veil worker --design he-lora`) behind a wrapper that tampers with one reply,
// over gRPC / the TLS stream like `veil worker` (--insecure: loopback only). Used by
// HeLoraMaliciousWorker.* (multiprocess_test.cpp) with the real `veil finetune` as the data owner.
//
//   he_lora_lying_worker --model DIR --mode offset|mask|replay|wrap [--listen 127.0.0.1:0]
//
// Modes (each tampers once, then answers honestly):
//   offset  adds 1 to one value of the first block product (a result coefficient + 2^(log q' − log t))
//   mask    shifts the first plan mask by Δ·X (coefficient 1 of column 0 + Δ)
//   replay  answers a layer-0 product with the result of another plan of the same layer
//   wrap    moves one value of the first block product by t/2 (a wrapped value)
#include <csignal>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>

#include "veil/designs/registry.h"
#include "veil/he/context.h"
#include "veil/he/serialization.h"
#include "veil/transport/serve.h"
#include "veil/transport/service.h"

namespace {

using veil::transport::Message;

std::span<const std::uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
std::string str(const std::vector<std::uint8_t>& v) { return {v.begin(), v.end()}; }

std::uint64_t header_hash(const std::string& blob) {
  std::uint64_t h = 0;
  for (int i = 0; i < 8; ++i) h |= std::uint64_t{static_cast<std::uint8_t>(blob.at(16 + i))} << (8 * i);
  return h;
}

class Liar {
 public:
  explicit Liar(std::string mode) : mode_(std::move(mode)) {}

  Message reply(const std::string& op, const Message& req, Message r) {
    std::lock_guard lock(mu_);
    if (op == "he.plan_info") {
      for (const auto& [name, blob] : r.blobs)
        if (name[0] == 's') {
          veil::he::Parameters p = veil::he::load_parameters(bytes(blob));
          contexts_.try_emplace(p.hash(), p);
        }
      if (mode_ == "mask" && !done_) {
        const veil::he::Context& c = contexts_.at(header_hash(r.blobs.at("p0")));
        veil::he::PlanMask m = veil::he::load_plan_mask(c, bytes(r.blobs.at("p0")));
        const auto& p = c.parameters();
        const std::uint64_t q_mask = p.log_q == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << p.log_q) - 1;
        m.mask[1] = (m.mask[1] + (std::uint64_t{1} << (p.log_q - p.log_t))) & q_mask;
        r.blobs["p0"] = str(veil::he::save(c, m));
        done_ = true;
        std::fprintf(stderr, "liar: shifted the mask of layer %d\n", req.layer);
      }
      return r;
    }
    if (op != "he.forward" || req.layer < 0 || done_) return r;
    if (mode_ == "replay") {
      if (req.layer != 0) return r;
      const std::string key(reinterpret_cast<const char*>(req.ints.data()), req.ints.size() * sizeof(std::int32_t));
      if (!first_) {
        first_ = key;
        first_reply_ = r;
        return r;
      }
      if (key == *first_) return r;
      done_ = true;
      std::fprintf(stderr, "liar: replayed another plan's result at layer %d\n", req.layer);
      Message fake = r;
      fake.blobs["y0"] = first_reply_.blobs.at("y0");
      return fake;
    }
    if (mode_ == "offset" || mode_ == "wrap") {
      std::string& blob = r.blobs.at("y0");
      const veil::he::Context& c = contexts_.at(header_hash(blob));
      veil::he::EncryptedResult y = veil::he::load_encrypted_result(c, bytes(blob));
      const auto& p = c.parameters();
      const std::uint64_t down_mask = (std::uint64_t{1} << p.log_q_down) - 1;
      const std::uint64_t shift = mode_ == "offset" ? std::uint64_t{1} << (p.log_q_down - p.log_t)
                                                    : std::uint64_t{1} << (p.log_q_down - 1);
      y.coeffs[0] = (y.coeffs[0] + shift) & down_mask;
      blob = str(veil::he::save(c, y));
      done_ = true;
      std::fprintf(stderr, "liar: %s at layer %d\n", mode_.c_str(), req.layer);
    }
    return r;
  }

 private:
  std::string mode_;
  std::mutex mu_;
  bool done_ = false;
  std::map<std::uint64_t, veil::he::Context> contexts_;
  std::optional<std::string> first_;
  Message first_reply_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string model, mode, listen = "127.0.0.1:0";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--model") model = v;
    else if (k == "--mode") mode = v;
    else if (k == "--listen") listen = v;
    else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  if (model.empty() || (mode != "offset" && mode != "mask" && mode != "replay" && mode != "wrap")) {
    std::fprintf(stderr, "usage: he_lora_lying_worker --model DIR --mode offset|mask|replay|wrap [--listen ADDR]\n");
    return 2;
  }
  try {
    auto honest = std::make_shared<veil::transport::Service>("honest");
    veil::designs::WorkerContext ctx;
    ctx.model = model;
    veil::designs::install_worker("he-lora", *honest, ctx);
    auto liar = std::make_shared<Liar>(mode);
    auto service = std::make_shared<veil::transport::Service>("liar");
    // The honest handlers run as if the data owner had called them (the liar serves --insecure).
    const auto caller = veil::transport::Peer::identified(veil::transport::Role::kDataOwner, "liar-proxy");
    for (const auto& op : honest->ops())
      service->on(op, veil::transport::kWorkerCallers,
                  [honest, liar, op, caller](const Message& m) { return liar->reply(op, m, honest->dispatch(m, caller)); });
    sigset_t set;  // blocked before the server's threads start, so that sigwait gets them
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    veil::transport::ServeOptions so;
    so.address = listen;
    so.tls.insecure = true;
    auto server = veil::transport::Server::start(service, so);
    std::printf("liar: listening on %s\n", server->address().c_str());
    std::fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    server->shutdown();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "he_lora_lying_worker: %s\n", e.what());
    return 1;
  }
}
