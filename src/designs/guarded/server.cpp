#include "designs/guarded/server.h"

#include <map>
#include <mutex>

#include <openssl/rand.h>
#include <torch/torch.h>

#include "designs/guarded/privacy.h"
#include "veil/model/loader.h"
#include "veil/transport/service.h"
#include "veil/util/check.h"

namespace veil::designs::guarded {
namespace {

using transport::Message;
using transport::ProtocolError;

// Limits on every count a client supplies (a peer may be malicious: each one bounds memory or time).
constexpr std::int64_t kMaxBatch = 256;          // rows of one activation
constexpr std::int64_t kMaxTokens = 1 << 16;     // rows x positions of one activation
constexpr std::size_t kMaxKeptGraphs = 64;       // forwards kept for a backward
constexpr std::int64_t kMaxLoraRank = 256;
constexpr std::size_t kMaxTargets = 64;

double meta_number(const Message& req, const std::string& key, double lo, double hi) {
  auto it = req.meta.find(key);
  if (it == req.meta.end()) throw ProtocolError("split.open: meta '" + key + "' is required with server_lora=1");
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(it->second, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != it->second.size() || !(v >= lo && v <= hi))
    throw ProtocolError("split.open: meta '" + key + "' must be a number in [" + std::to_string(lo) + ", " +
                        std::to_string(hi) + "]");
  return v;
}

void require_finite(const at::Tensor& t, const std::string& what) {
  if (!t.isfinite().all().item<bool>()) throw ProtocolError(what + " holds non-finite values");
}

struct ServerState {
  WorkerContext ctx;
  bool gradfree = false;
  std::mutex mu;
  // Set by split.open.
  std::unique_ptr<model::CausalLM> model;
  int first = 0, last = 0, bits = 0;
  std::shared_ptr<model::LoraAdapters> lora;
  std::unique_ptr<torch::optim::AdamW> opt;
  double lr = 0;  // the server LoRA's constant rate (split.open's server_lr)
  std::map<int, std::pair<at::Tensor, at::Tensor>> graphs;  // micro-batch id -> (input leaf, output)

  void open(const Message& req) {
    if (req.ints.size() != 5) throw ProtocolError("split.open needs ints {k, L-m, server_lora, lora_r, quant_bits}");
    auto cfg = model::ModelConfig::from_file(ctx.model / "config.json");
    const int k = req.ints[0], end = req.ints[1];
    if ((req.ints[2] != 0 && req.ints[2] != 1) || req.ints[3] < 0 || req.ints[3] > kMaxLoraRank ||
        (req.ints[4] != 0 && (req.ints[4] < 2 || req.ints[4] > 16)))
      throw ProtocolError("split.open: server_lora must be 0 or 1, lora_r in 0.." + std::to_string(kMaxLoraRank) +
                          ", quant_bits 0 or 2..16");
    if (k < 1 || end <= k || end >= cfg.num_layers)
      throw ProtocolError("split.open: middle [" + std::to_string(k) + ", " + std::to_string(end) +
                          ") must be inside (0, " + std::to_string(cfg.num_layers) + ")");
    if (ctx.first_layer > k || (ctx.last_layer >= 0 && ctx.last_layer < end))
      throw ProtocolError("split.open: this worker serves only layers [" + std::to_string(ctx.first_layer) + ", " +
                          std::to_string(ctx.last_layer) + ")");
    const bool mixed = req.meta.count("mix") && req.meta.at("mix") == "orthogonal";
    model::ModelParams params;
    params.blocks.resize(cfg.num_layers);
    model::LinearWeights linear;
    auto bp = model::block_projections(cfg.family);
    if (!mixed) {
      // The server's own copy of the weights: it keeps the middle blocks only.
      auto files = model::read_model(ctx.model);
      for (int l = k; l < end; ++l) params.blocks[l] = files.weights.params.blocks[l];
      for (auto& [site, w] : files.weights.linear)
        if (site.layer >= k && site.layer < end) linear[site] = w;
    } else {
      // Mixed weights uploaded by the client; norms are folded into them (RMSNorm weight 1).
      if (model::family_traits(cfg.family).norm != model::Norm::kRms) throw ProtocolError("mix=orthogonal needs a Llama (RMSNorm) model");
      for (int l = k; l < end; ++l) {
        auto& b = params.blocks[l];
        b.norm1_w = at::ones({cfg.hidden_size});
        b.norm2_w = at::ones({cfg.hidden_size});
        for (auto group : {bp.attn_in, bp.attn_out, bp.mlp_in, bp.mlp_out})
          for (model::Proj p : group) {
            auto key = "w." + std::to_string(l) + "." + std::to_string(static_cast<int>(p));
            auto [out, in] = model::proj_shape(cfg, p);
            const auto& w = req.tensor(key);
            if (w.scalar_type() != at::kFloat || w.dim() != 2 || w.size(0) != out || w.size(1) != in)
              throw ProtocolError("split.open: " + key + " must be f32 [" + std::to_string(out) + ", " +
                                  std::to_string(in) + "]");
            require_finite(w, "split.open: " + key);
            linear[{l, p}] = w;
            auto bkey = "b." + std::to_string(l) + "." + std::to_string(static_cast<int>(p));
            if (req.tensors.count(bkey)) {
              const auto& bias = req.tensor(bkey);
              if (bias.scalar_type() != at::kFloat || bias.dim() != 1 || bias.size(0) != out)
                throw ProtocolError("split.open: " + bkey + " must be f32 [" + std::to_string(out) + "]");
              require_finite(bias, "split.open: " + bkey);
              b.bias[p] = bias;
            }
          }
      }
    }
    model = model::build_model(cfg, std::move(params), std::make_shared<model::PlainExecutor>(std::move(linear)));
    first = k;
    last = end;
    bits = req.ints[4];
    graphs.clear();
    lora.reset();
    opt.reset();
    if (req.ints[2] != 0) {
      if (gradfree) throw ProtocolError("gradfree: the server trains nothing (server_lora=0)");
      model::LoraConfig lc;
      lc.r = req.ints[3];
      if (lc.r < 1) throw ProtocolError("split.open: server_lora=1 needs lora_r >= 1");
      lc.alpha = meta_number(req, "lora_alpha", 1e-6, 1e6);
      lc.dropout = meta_number(req, "lora_dropout", 0, 0.99);
      lr = meta_number(req, "server_lr", 1e-12, 10);
      if (auto t = req.meta.find("lora_targets"); t != req.meta.end()) {
        if (t->second.size() > 4096) throw ProtocolError("split.open: lora_targets is too long");
        lc.target_modules.clear();
        for (std::size_t pos = 0; pos <= t->second.size();) {
          auto comma = std::min(t->second.find(',', pos), t->second.size());
          if (comma > pos) lc.target_modules.push_back(t->second.substr(pos, comma - pos));
          pos = comma + 1;
        }
        if (lc.target_modules.size() > kMaxTargets) throw ProtocolError("split.open: too many lora_targets");
      }
      try {
        lc.validate();
      } catch (const std::invalid_argument& e) {
        throw ProtocolError(std::string("split.open: ") + e.what());
      }
      // The server's own seed, drawn here: nothing of the client's randomness is needed or sent.
      std::uint64_t seed = 0;
      if (RAND_bytes(reinterpret_cast<unsigned char*>(&seed), sizeof seed) != 1)
        throw std::runtime_error("OpenSSL RAND_bytes failed");
      lora = std::make_shared<model::LoraAdapters>(cfg, lc, seed);
      for (auto it = lora->pairs().begin(); it != lora->pairs().end();)
        it = (it->first.layer >= k && it->first.layer < end) ? std::next(it) : lora->pairs().erase(it);
      model->set_lora(lora);
      opt = std::make_unique<torch::optim::AdamW>(lora->parameters(), torch::optim::AdamWOptions(lr));
    }
  }

  at::Tensor run(at::Tensor h, std::int64_t offset) {
    for (int l = first; l < last; ++l) h = model->block(l, h, nullptr, offset);
    return h;
  }

  Message forward(const Message& req) {
    if (!model) throw ProtocolError("split.forward before split.open");
    if (req.ints.size() != 3) throw ProtocolError("split.forward needs ints {micro_batch, offset, want_grad}");
    const auto& c = model->config();
    auto h = decode_wire(req.tensors, "h", c.hidden_size);
    if (h.dim() != 3 || h.size(2) != c.hidden_size || req.ints[1] < 0 || h.size(0) < 1 || h.size(1) < 1 ||
        req.ints[1] + h.size(1) > c.max_position_embeddings)
      throw ProtocolError("split.forward: activation must be [B, T, hidden] within the model's positions");
    if (h.size(0) > kMaxBatch || h.size(0) * h.size(1) > kMaxTokens)
      throw ProtocolError("split.forward: at most " + std::to_string(kMaxBatch) + " rows and " +
                          std::to_string(kMaxTokens) + " tokens per activation");
    if (req.ints[0] < 0 || (req.ints[2] != 0 && req.ints[2] != 1))
      throw ProtocolError("split.forward: micro_batch must be >= 0 and want_grad 0 or 1");
    require_finite(h, "split.forward: the activation");
    const bool want_grad = req.ints[2] != 0;
    if (want_grad && !graphs.count(req.ints[0]) && graphs.size() >= kMaxKeptGraphs)
      throw ProtocolError("split.forward: " + std::to_string(kMaxKeptGraphs) +
                          " forwards are already waiting for their backward (send split.step)");
    if (want_grad && gradfree) throw ProtocolError("gradfree: the server keeps no graph (want_grad must be 0)");
    Message r;
    r.op = req.op;
    if (want_grad) {
      at::AutoGradMode on(true);
      model->set_training(true);
      auto x = h.detach().requires_grad_(true);
      auto y = run(x, req.ints[1]);
      graphs[req.ints[0]] = {x, y};
      encode_wire(r.tensors, "h", y, bits);
    } else {
      at::NoGradGuard off;
      model->set_training(false);
      encode_wire(r.tensors, "h", run(h, req.ints[1]), bits);
    }
    return r;
  }

  Message backward(const Message& req) {
    if (req.ints.size() != 1) throw ProtocolError("split.backward needs ints {micro_batch}");
    auto it = graphs.find(req.ints[0]);
    if (it == graphs.end()) throw ProtocolError("split.backward: no forward kept for this micro-batch");
    auto g = decode_wire(req.tensors, "g", model->config().hidden_size);
    auto [x, y] = it->second;
    graphs.erase(it);
    if (!g.sizes().equals(y.sizes())) throw ProtocolError("split.backward: gradient shape does not match the output");
    require_finite(g, "split.backward: the gradient");
    at::AutoGradMode on(true);
    y.backward(g);  // accumulates the server LoRA's gradients too
    Message r;
    r.op = req.op;
    encode_wire(r.tensors, "g", x.grad(), bits);
    return r;
  }

  // The server's LoRA weights as "a.<layer>.<proj>" / "b.<layer>.<proj>" (in the coordinates the
  // server computes in: mixed ones with mix=orthogonal).
  Message get_lora(const Message& req) {
    if (!lora) throw ProtocolError("split.get_lora: this session has no server LoRA (server_lora=0)");
    Message r;
    r.op = req.op;
    for (const auto& [site, p] : lora->pairs()) {
      const auto key = std::to_string(site.layer) + "." + std::to_string(static_cast<int>(site.proj));
      r.tensors["a." + key] = p.a.detach().clone();
      r.tensors["b." + key] = p.b.detach().clone();
    }
    return r;
  }

  // Replaces the server LoRA's weights (a resumed run); every pair must be given, same shapes.
  Message set_lora(const Message& req) {
    if (!lora) throw ProtocolError("split.set_lora: this session has no server LoRA (server_lora=0)");
    if (req.tensors.size() != 2 * lora->pairs().size())
      throw ProtocolError("split.set_lora: expected " + std::to_string(2 * lora->pairs().size()) + " tensors");
    at::NoGradGuard g;
    for (auto& [site, p] : lora->pairs()) {
      const auto key = std::to_string(site.layer) + "." + std::to_string(static_cast<int>(site.proj));
      const auto& a = req.tensor("a." + key);
      const auto& b = req.tensor("b." + key);
      if (!a.sizes().equals(p.a.sizes()) || !b.sizes().equals(p.b.sizes()) || a.scalar_type() != p.a.scalar_type() ||
          b.scalar_type() != p.b.scalar_type())
        throw ProtocolError("split.set_lora: a." + key + " / b." + key + " do not match the server LoRA");
      require_finite(a, "split.set_lora: a." + key);
      require_finite(b, "split.set_lora: b." + key);
      p.a.copy_(a);
      p.b.copy_(b);
    }
    Message r;
    r.op = req.op;
    return r;
  }

  Message step(const Message& req) {
    graphs.clear();  // forwards of micro-batches without targets are never backwarded
    if (!req.ints.empty() || !req.meta.empty() || !req.tensors.empty())
      throw ProtocolError("split.step carries nothing (the server LoRA's rate is fixed at split.open)");
    if (opt) {
      opt->step();
      opt->zero_grad();
    }
    Message r;
    r.op = req.op;
    return r;
  }
};

}  // namespace

void install_split_server(transport::Service& service, const WorkerContext& ctx, bool gradfree) {
  VEIL_CHECK_ARG(ctx.options.empty(), "split/gradfree workers take no --opt (the client sends k, m and its options)");
  VEIL_CHECK_ARG(std::filesystem::exists(ctx.model / "config.json"), "split worker: --model must be an HF directory (",
                 ctx.model.string(), ")");
  auto s = std::make_shared<ServerState>();
  s->ctx = ctx;
  s->gradfree = gradfree;
  auto locked = [s](Message (ServerState::*fn)(const Message&)) {
    return [s, fn](const Message& req) {
      std::lock_guard lock(s->mu);
      return (s.get()->*fn)(req);
    };
  };
  service.on(kOpOpen, transport::kWorkerCallers, [s](const Message& req) {
    std::lock_guard lock(s->mu);
    s->open(req);
    Message r;
    r.op = req.op;
    r.ints = {s->first, s->last};
    return r;
  });
  service.on(kOpForward, transport::kWorkerCallers, locked(&ServerState::forward));
  if (!gradfree) service.on(kOpBackward, transport::kWorkerCallers, locked(&ServerState::backward));
  service.on(kOpStep, transport::kWorkerCallers, locked(&ServerState::step));
  if (!gradfree) {
    service.on(kOpGetLora, transport::kWorkerCallers, locked(&ServerState::get_lora));
    service.on(kOpSetLora, transport::kWorkerCallers, locked(&ServerState::set_lora));
  }
}

}  // namespace veil::designs::guarded
