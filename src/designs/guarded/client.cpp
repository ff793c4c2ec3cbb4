#include "designs/guarded/client.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>

#include <torch/torch.h>

#include "designs/guarded/accounting.h"
#include "designs/guarded/privacy.h"
#include "designs/guarded/server.h"
#include "veil/designs/registry.h"
#include "veil/model/family.h"
#include "veil/train/loss.h"
#include "veil/util/check.h"

namespace veil::designs::guarded {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The model the recipe trains: the client's blocks locally; at layer k the whole middle runs on
// the server; layers (k, L-m) are then pass-throughs.
class SplitLM final : public model::CausalLM {
 public:
  SplitLM(model::CausalLM& inner, SplitClient& client)
      : CausalLM(inner.config(), inner.params(), inner.shared_executor()), inner_(inner), client_(client) {}

  at::Tensor embed(const at::Tensor& ids, std::int64_t offset) override {
    auto x = inner_.embed(ids, offset);
    client_.note_embedding(x);
    return x;
  }
  at::Tensor block(int l, const at::Tensor& h, model::KvCache* cache, std::int64_t offset) override {
    if (l < client_.middle_begin() || l >= client_.middle_end()) return inner_.block(l, h, cache, offset);
    VEIL_CHECK_ARG(cache == nullptr, "split: incremental decoding through the server is not supported");
    if (l != client_.middle_begin()) return h;  // already computed by the server
    return client_.remote_middle(client_.apply_dcor(h), offset);
  }
  at::Tensor final_norm(const at::Tensor& h) override { return inner_.final_norm(h); }

 private:
  model::CausalLM& inner_;
  SplitClient& client_;
};

// Differentiable remote call: forward sends h, backward sends dL/d(out) and returns dL/dh.
struct RemoteMiddle : public torch::autograd::Function<RemoteMiddle> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& h, SplitClient* client, std::int64_t offset) {
    const int mb = client->next_micro_batch();
    ctx->saved_data["mb"] = static_cast<std::int64_t>(mb);
    ctx->saved_data["client"] = reinterpret_cast<std::int64_t>(client);
    return client->send_forward(h, offset, mb, true);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto* client = reinterpret_cast<SplitClient*>(ctx->saved_data["client"].toInt());
    const int mb = static_cast<int>(ctx->saved_data["mb"].toInt());
    return {client->send_backward(grads[0], mb), at::Tensor(), at::Tensor()};
  }
};

// Identity forward; backward adds a fixed extra gradient (the dcor penalty's dP/dh).
struct AddGrad : public torch::autograd::Function<AddGrad> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& h, const at::Tensor& extra) {
    ctx->saved_data["extra"] = extra;
    return h.clone();
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return {grads[0] + ctx->saved_data["extra"].toTensor(), at::Tensor()};
  }
};

double proj_params(const model::ModelConfig& c, std::span<const model::Proj> ps) {
  double n = 0;
  for (auto p : ps) {
    auto [o, i] = model::proj_shape(c, p);
    n += static_cast<double>(o * i);
  }
  return n;
}

}  // namespace

CostModel cost_model(const model::ModelConfig& c, std::int64_t seq_len) {
  CostModel m;
  auto bp = model::block_projections(c.family);
  m.block_params = proj_params(c, bp.attn_in) + proj_params(c, bp.attn_out) + proj_params(c, bp.mlp_in) +
                   proj_params(c, bp.mlp_out) + 4.0 * static_cast<double>(c.hidden_size);
  m.head_params = static_cast<double>(c.vocab_size * c.hidden_size);
  m.embed_params = static_cast<double>(c.vocab_size * c.hidden_size + (model::family_traits(c.family).positions == model::Positions::kLearned ? c.max_position_embeddings * c.hidden_size : 0));
  m.block_flops = 2.0 * m.block_params + 4.0 * static_cast<double>(seq_len * c.q_dim());
  m.head_flops = 2.0 * m.head_params;
  return m;
}

SplitClient::SplitClient(const train::FinetuneConfig& cfg, SplitOptions o, std::shared_ptr<transport::Endpoint> server)
    : cfg_(cfg), o_(o), server_(std::move(server)), inner_(model::load_model(cfg.model)) {
  const auto& c = inner_.model->config();
  const int L = static_cast<int>(c.num_layers);
  VEIL_CHECK_ARG(o_.k + o_.m < L, "--opt k=", o_.k, " m=", o_.m, ": the server needs at least one of the model's ", L,
                 " blocks (k + m < ", L, ")");
  VEIL_CHECK_ARG(!o_.mix || model::family_traits(c.family).norm == model::Norm::kRms,
                 "--opt mix=orthogonal needs a Llama model (RMSNorm commutes with rotations; GPT-2's LayerNorm does not)");
  middle_end_ = L - o_.m;
  shape_.rows = cfg.batch_size;
  shape_.cols = cfg.seq_len;
  if (o_.noise != Noise::kNone) grid_ = grid_noise(o_.noise == Noise::kGaussian, o_.noise_scale);
  // The client's secret: from --opt secret_file, else fresh from RAND_bytes and kept in the run's
  // own checkpoint folder (read back on --resume so the ZO directions continue); never sent.
  if (!o_.secret_file.empty()) {
    secret_ = ClientSecret::load_or_create(o_.secret_file);
  } else if (!cfg.out.empty()) {
    const auto path = cfg.out / "checkpoints" / "split_client_secret";
    secret_ = cfg.resume && std::filesystem::exists(path) ? ClientSecret::load(path) : ClientSecret::generate();
    secret_.save(path);
  } else {
    secret_ = ClientSecret::generate();
  }
  // The client's adapters: the plain design's sites, restricted to the client's blocks, with A
  // drawn from the client's secret (not from --seed, which a server could guess).
  lora_ = std::make_shared<model::LoraAdapters>(c, cfg.lora, cfg.seed);
  // With server_lora, the middle blocks' pairs are kept too, as the client's copy of the server's
  // LoRA: never computed or trained here, refreshed from the server by sync() (before every
  // checkpoint and the PEFT output) so that the output holds the whole adapter.
  const bool train_bottom = !o_.gradfree || o_.zo_bottom;
  for (auto it = lora_->pairs().begin(); it != lora_->pairs().end();) {
    const int l = it->first.layer;
    const bool keep = (l < o_.k && train_bottom) || l >= middle_end_ || (o_.server_lora && !o_.gradfree);
    it = keep ? std::next(it) : lora_->pairs().erase(it);
  }
  for (const auto& [site, p] : lora_->pairs()) {
    if (site.layer >= middle_end_) top_params_.insert(top_params_.end(), {p.a, p.b});
    if (site.layer < o_.k || site.layer >= middle_end_) client_params_.insert(client_params_.end(), {p.a, p.b});
  }
  VEIL_CHECK_ARG(!client_params_.empty(), "the LoRA targets match none of the client's blocks");
  init_client_lora(secret_, *lora_, [&](int l) { return l < o_.k || l >= middle_end_; });
  inner_.model->set_lora(lora_);
  split_lm_ = std::make_unique<SplitLM>(*inner_.model, *this);
  split_lm_->set_lora(lora_);
  if (!server_) {
    WorkerContext ctx;
    ctx.model = cfg.model;
    pool_ = open_workers(o_.gradfree ? "gradfree" : "split", cfg.parties, ctx, L);
    VEIL_CHECK_ARG(pool_.size() == 1, "split/gradfree use one server (got ", pool_.size(), " workers)");
    server_ = pool_.workers()[0].endpoint;
  }
  open_server();
  // The middle's weights live on the server: the client keeps no copy (mix uploaded them above).
  auto& linear = inner_.executor->mutable_weights();
  for (auto it = linear.begin(); it != linear.end();)
    it = (it->first.layer >= o_.k && it->first.layer < middle_end_) ? linear.erase(it) : std::next(it);
  inner_.executor->invalidate_fused();
  if (o_.noise != Noise::kNone)
    std::fprintf(stderr, "veil: %s noise accounting: %s\n", o_.gradfree ? "gradfree" : "split",
                 noise_accounting(o_, c.hidden_size, shape_.cols, releases_per_example()).dump().c_str());
}

SplitClient::~SplitClient() = default;

void SplitClient::open_server() {
  const auto& c = inner_.model->config();
  transport::Message req;
  req.op = kOpOpen;
  const bool server_lora = o_.server_lora && !o_.gradfree;
  req.ints = {o_.k, middle_end_, server_lora ? 1 : 0, server_lora ? static_cast<int>(cfg_.lora.r) : 0, o_.quant_bits};
  req.meta = {{"mix", o_.mix ? "orthogonal" : "none"}};
  if (server_lora) {
    // What the server needs to build and train its own LoRA; its seed is its own.
    std::string targets;
    for (const auto& t : cfg_.lora.target_modules) targets += (targets.empty() ? "" : ",") + t;
    req.meta["lora_alpha"] = std::to_string(cfg_.lora.alpha);
    req.meta["lora_targets"] = targets;
    req.meta["lora_dropout"] = std::to_string(cfg_.lora.dropout);
    req.meta["server_lr"] = std::to_string(o_.server_lr > 0 ? o_.server_lr : cfg_.optim.lr);
  }
  if (o_.mix) {
    // Fold each RMSNorm weight into the projections it feeds, then rotate: the server computes the
    // middle in rotated coordinates h·Q without ever seeing Q (see docs/designs/guarded.md).
    mix_ = secret_orthogonal(c.hidden_size);
    auto q = mix_;
    auto bp = model::block_projections(c.family);
    auto* plain = inner_.executor.get();
    for (int l = o_.k; l < middle_end_; ++l) {
      const auto& b = inner_.model->params().blocks[l];
      auto put = [&](model::Proj p, const at::Tensor& w) {
        req.tensors["w." + std::to_string(l) + "." + std::to_string(static_cast<int>(p))] = w.to(at::kFloat).contiguous();
      };
      for (auto [group, norm] : {std::pair{bp.attn_in, b.norm1_w}, std::pair{bp.mlp_in, b.norm2_w}})
        for (auto p : group) put(p, at::mm(plain->weights().at({l, p}).to(at::kDouble) * norm.to(at::kDouble).unsqueeze(0), q));
      for (auto group : {bp.attn_out, bp.mlp_out})
        for (auto p : group) {
          put(p, at::mm(q.t(), plain->weights().at({l, p}).to(at::kDouble)));
          if (auto it = b.bias.find(p); it != b.bias.end())
            req.tensors["b." + std::to_string(l) + "." + std::to_string(static_cast<int>(p))] =
                at::mv(q.t(), it->second.to(at::kDouble)).to(at::kFloat);
        }
      for (auto group : {bp.attn_in, bp.mlp_in})
        for (auto p : group)
          if (auto it = b.bias.find(p); it != b.bias.end())
            req.tensors["b." + std::to_string(l) + "." + std::to_string(static_cast<int>(p))] = it->second;
    }
  }
  auto r = call(std::move(req));
  VEIL_CHECK_IO(r.ints.size() == 2 && r.ints[0] == o_.k && r.ints[1] == middle_end_ && r.tensors.empty(),
                "split server at ", server_->peer(), " did not open the middle [", o_.k, ", ", middle_end_, ")");
}

transport::Message SplitClient::call(transport::Message req) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::clock_t c0 = std::clock();
  auto r = server_->call(std::move(req));
  server_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  server_cpu_seconds_ += static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
  return r;
}

std::vector<at::Tensor> SplitClient::trainable() {
  return o_.gradfree ? top_params_ : client_params_;
}

namespace {
std::string site_key(const model::LinearSite& s) {
  return std::to_string(s.layer) + "." + std::to_string(static_cast<int>(s.proj));
}
}  // namespace

// With mix=orthogonal the server's LoRA acts in rotated coordinates with the RMSNorm weight n
// folded in: a pair (A', B') on a projection fed by a norm equals A = A'·Qᵀ·diag(1/n), B = B' in
// the original model; on o/down (whose output is rotated), A = A', B = Q·B'.
void SplitClient::server_lora_coordinates(model::LinearSite site, at::Tensor& a, at::Tensor& b, bool to_server) const {
  if (!o_.mix) return;
  const auto& c = inner_.model->config();
  auto bp = model::block_projections(c.family);
  auto in = [&](std::span<const model::Proj> g) { return std::find(g.begin(), g.end(), site.proj) != g.end(); };
  const auto& blk = inner_.model->params().blocks[site.layer];
  if (in(bp.attn_in) || in(bp.mlp_in)) {
    auto n = (in(bp.attn_in) ? blk.norm1_w : blk.norm2_w).to(at::kDouble);
    VEIL_CHECK_STATE(n.abs().min().item<double>() > 0, "mix: an RMSNorm weight of 0 cannot be unfolded from the server LoRA");
    a = to_server ? at::mm(a.to(at::kDouble) * n.unsqueeze(0), mix_).to(a.scalar_type())
                  : (at::mm(a.to(at::kDouble), mix_.t()) / n.unsqueeze(0)).to(a.scalar_type());
  } else {
    b = (to_server ? at::mm(mix_.t(), b.to(at::kDouble)) : at::mm(mix_, b.to(at::kDouble))).to(b.scalar_type());
  }
}

void SplitClient::sync() {
  if (!o_.server_lora || o_.gradfree) return;
  transport::Message req;
  req.op = kOpGetLora;
  auto r = call(std::move(req));
  at::NoGradGuard g;
  for (auto& [site, p] : lora_->pairs()) {
    if (site.layer < o_.k || site.layer >= middle_end_) continue;
    const auto key = site_key(site);
    auto ia = r.tensors.find("a." + key), ib = r.tensors.find("b." + key);
    VEIL_CHECK_IO(ia != r.tensors.end() && ib != r.tensors.end() && ia->second.sizes().equals(p.a.sizes()) &&
                      ib->second.sizes().equals(p.b.sizes()),
                  "split server at ", server_->peer(), " returned no LoRA of the expected shape for layer ", site.layer);
    auto a = ia->second.to(p.a.scalar_type()), b = ib->second.to(p.b.scalar_type());
    server_lora_coordinates(site, a, b, false);
    p.a.copy_(a);
    p.b.copy_(b);
  }
}

void SplitClient::adapters_restored() {
  if (!o_.server_lora || o_.gradfree) return;
  transport::Message req;
  req.op = kOpSetLora;
  for (const auto& [site, p] : lora_->pairs()) {
    if (site.layer < o_.k || site.layer >= middle_end_) continue;
    auto a = p.a.detach().clone(), b = p.b.detach().clone();
    server_lora_coordinates(site, a, b, true);
    req.tensors["a." + site_key(site)] = a.contiguous();
    req.tensors["b." + site_key(site)] = b.contiguous();
  }
  (void)call(std::move(req));
}

at::Tensor SplitClient::apply_dcor(const at::Tensor& h) {
  if (o_.dcor <= 0 || !at::GradMode::is_enabled() || !h.requires_grad() || !embedding_.defined()) return h;
  const auto d = h.size(-1);
  auto x = embedding_.detach().reshape({-1, d});
  auto z = h.detach().reshape({-1, d}).requires_grad_(true);
  const std::int64_t n = x.size(0), cap = 256;  // O(n²) distances: a strided subsample of tokens
  at::Tensor idx = n > cap ? at::arange(0, n, (n + cap - 1) / cap, at::kLong) : at::arange(n, at::kLong);
  auto p = distance_correlation(x.index_select(0, idx), z.index_select(0, idx));
  auto g = torch::autograd::grad({p * o_.dcor}, {z})[0];
  last_dcor_ = p.item<double>();
  return AddGrad::apply(h, g.reshape(h.sizes()));
}

at::Tensor SplitClient::remote_middle(const at::Tensor& h, std::int64_t offset) {
  seq_len_seen_ = std::max<std::int64_t>(seq_len_seen_, h.size(1));
  at::Tensor s = h;
  if (o_.clip > 0) s = clip_rows(s, o_.clip);
  // Exact discrete noise on the grid (dp_noise.h): the value sent is exactly the noisy grid point
  // (s - s.detach() is exactly zero), and the gradient passes straight through to s.
  if (o_.noise != Noise::kNone) s = add_grid_noise(s, grid_) + (s - s.detach());
  const bool link = !o_.gradfree && at::GradMode::is_enabled() && s.requires_grad();
  if (link) return RemoteMiddle::apply(s, this, offset);
  return send_forward(s.detach(), offset, next_micro_batch(), false);
}

at::Tensor SplitClient::send_forward(const at::Tensor& h, std::int64_t offset, int mb, bool want_grad) {
  at::Tensor s = h.detach();
  if (o_.mix) s = at::matmul(s.to(at::kDouble), mix_).to(at::kFloat);
  transport::Message req;
  req.op = kOpForward;
  req.ints = {mb, static_cast<std::int32_t>(offset), want_grad ? 1 : 0};
  encode_wire(req.tensors, "h", s, o_.quant_bits);
  auto r = call(std::move(req));
  ++forwards_;
  auto out = checked_reply(r, kOpForward, "h", h);
  if (o_.mix) out = at::matmul(out.to(at::kDouble), mix_.t()).to(at::kFloat);
  return out;
}

at::Tensor SplitClient::send_backward(const at::Tensor& g, int mb) {
  at::Tensor s = g.detach();
  if (o_.mix) s = at::matmul(s.to(at::kDouble), mix_).to(at::kFloat);
  transport::Message req;
  req.op = kOpBackward;
  req.ints = {mb};
  encode_wire(req.tensors, "g", s, o_.quant_bits);
  auto r = call(std::move(req));
  ++backwards_;
  auto out = checked_reply(r, kOpBackward, "g", g);
  if (o_.mix) out = at::matmul(out.to(at::kDouble), mix_.t()).to(at::kFloat);
  return out;
}

at::Tensor SplitClient::checked_reply(const transport::Message& r, const char* op, const char* name,
                                      const at::Tensor& like) const {
  at::Tensor out;
  try {
    out = decode_wire(r.tensors, name, like.size(-1));
  } catch (const std::exception& e) {
    VEIL_CHECK_IO(false, "split server at ", server_->peer(), " sent a malformed reply to ", op, ": ", e.what());
  }
  VEIL_CHECK_IO(out.sizes() == like.sizes(), "split server at ", server_->peer(), " replied to ", op, " with shape ",
                out.sizes(), " for ", like.sizes());
  VEIL_CHECK_IO(out.isfinite().all().item<bool>(), "split server at ", server_->peer(), " replied to ", op,
                " with non-finite values");
  return out;
}

void SplitClient::zo_update(std::span<const train::MicroBatch> micro, double lr, std::int64_t step) {
  // SPSA / MeZO: two forward passes at θ ± εz give the directional derivative along z; z comes
  // from the client's secret keystream for this step (never from a seed the server knows).
  at::NoGradGuard ng;
  split_lm_->set_training(false);
  std::vector<at::Tensor> bottom, z;
  for (const auto& [site, p] : lora_->pairs())
    if (site.layer < o_.k)
      for (const auto& t : {p.a, p.b}) {
        bottom.push_back(t);
        z.push_back(secret_.normal(kDomainZo, static_cast<std::uint32_t>(z.size()), static_cast<std::uint32_t>(step),
                                   t.sizes()));
      }
  if (bottom.empty()) return;
  auto loss = [&] {
    double sum = 0;
    std::int64_t n = 0;
    for (const auto& mb : micro) {
      auto l = train::causal_lm_loss(*split_lm_, mb.input_ids, mb.labels);
      sum += l.sum.item<double>();
      n += l.targets;
    }
    return n ? sum / static_cast<double>(n) : 0.0;
  };
  auto shift = [&](double s) {
    for (std::size_t i = 0; i < bottom.size(); ++i) bottom[i].add_(z[i] * s);
  };
  shift(o_.zo_eps);
  const double plus = loss();
  shift(-2 * o_.zo_eps);
  const double minus = loss();
  shift(o_.zo_eps);
  last_zo_grad_ = (plus - minus) / (2 * o_.zo_eps);
  shift(-lr * last_zo_grad_);
  ++zo_steps_;
}

train::StepStats SplitClient::step(train::Trainer& trainer, std::span<const train::MicroBatch> micro) {
  // Every micro-batch goes to the server at the run's fixed shape, with or without targets, and
  // (split) is backwarded: the server's view does not depend on the labels' count or place.
  const auto padded = shape_.pad(micro);
  if (o_.gradfree && o_.zo_bottom) {
    // constant rate, plain SGD (MeZO); the step number selects the secret direction
    zo_update(padded, o_.zo_lr > 0 ? o_.zo_lr : cfg_.optim.lr, trainer.steps_done());
  }
  auto s = trainer.step_with([&] {
    train::Trainer::Gradients g;
    for (const auto& mb : padded) g.targets += (mb.labels != -100).sum().item<std::int64_t>();
    for (const auto& mb : micro) g.tokens += mb.input_ids.numel();
    for (const auto& mb : padded) {
      auto l = train::causal_lm_loss(*split_lm_, mb.input_ids, mb.labels);
      (l.sum / static_cast<double>(std::max<std::int64_t>(1, g.targets))).backward();
      g.loss_sum += l.sum.item<double>();
    }
    return g;
  });
  tokens_ += s.tokens;
  transport::Message req;
  req.op = kOpStep;  // carries nothing: the server LoRA's rate was fixed at split.open
  (void)call(std::move(req));
  return s;
}

train::EvalStats SplitClient::evaluate(std::span<const train::MicroBatch> batches) {
  for (const auto& b : batches) tokens_ += b.input_ids.numel();
  ++evaluations_;
  const auto padded = shape_.pad(batches);
  return train::evaluate_loss(*split_lm_, padded);
}

std::int64_t SplitClient::releases_per_example() const {
  // Each epoch sends a training row once per forward of its step: 1, or 3 with SPSA (θ, θ ± εz).
  return cfg_.epochs * ((o_.gradfree && o_.zo_bottom) ? 3 : 1);
}

nlohmann::json SplitClient::report() const {
  const auto& c = inner_.model->config();
  const auto st = server_->stats();
  const double L = static_cast<double>(c.num_layers), client_blocks = o_.k + o_.m;
  const auto cm = cost_model(c, std::max<std::int64_t>(1, seq_len_seen_));
  const double total_params = L * cm.block_params + cm.head_params + (c.tie_word_embeddings ? 0 : cm.embed_params);
  const double client_params = client_blocks * cm.block_params + cm.head_params + (c.tie_word_embeddings ? 0 : cm.embed_params);
  // Training FLOPs per token: forward + backward (2× forward) where gradients flow.
  const double plain_flops = 3 * (L * cm.block_flops + cm.head_flops);
  double client_flops = 3 * (client_blocks * cm.block_flops + cm.head_flops);
  if (o_.gradfree)
    client_flops = (o_.zo_bottom ? 3 : 1) * o_.k * cm.block_flops + 3 * (o_.m * cm.block_flops + cm.head_flops);
  nlohmann::json j = {
      {"k", o_.k}, {"m", o_.m}, {"server_layers", {o_.k, middle_end_}}, {"server", server_->peer()},
      {"calls", st.calls}, {"bytes_up", st.bytes_sent}, {"bytes_down", st.bytes_received},
      {"tokens", tokens_}, {"forwards", forwards_}, {"backwards", backwards_},
      {"seconds_waiting_for_server", server_seconds_}, {"process_cpu_seconds_in_server_calls", server_cpu_seconds_},
      {"bytes_up_per_token", tokens_ ? static_cast<double>(st.bytes_sent) / static_cast<double>(tokens_) : 0.0},
      {"bytes_down_per_token", tokens_ ? static_cast<double>(st.bytes_received) / static_cast<double>(tokens_) : 0.0},
      {"client_param_share", client_params / total_params},
      {"client_flop_share", client_flops / plain_flops},
      {"trained_parameters", lora_->num_parameters()},
      {"noise", noise_accounting(o_, c.hidden_size, shape_.cols, releases_per_example())},
      {"quant_bits", o_.quant_bits}, {"mix", o_.mix ? "orthogonal" : "none"}, {"server_lora", o_.server_lora},
      {"server_sees", o_.gradfree ? "hidden states at layer k (forward only)"
                                  : "hidden states at layer k and gradients at layer L-m, per micro-batch"}};
  if (o_.noise != Noise::kNone) {
    // Validation rows are released once per evaluation.
    j["noise"]["validation_example"] = noise_accounting(o_, c.hidden_size, shape_.cols, std::max<std::int64_t>(1, evaluations_));
    j["noise"]["covers"] = o_.gradfree ? "every message the client sends the server (forward activations only)"
                                       : "the forward activations only: split's uploaded gradients are not noised";
  }
  j["fixed_shape"] = {shape_.rows, shape_.cols};
  if (o_.dcor > 0) j["dcor"] = {{"weight", o_.dcor}, {"last", last_dcor_}};
  if (o_.gradfree && o_.zo_bottom) j["zo"] = {{"eps", o_.zo_eps}, {"steps", zo_steps_}, {"last_directional_derivative", last_zo_grad_}};
  return j;
}

DesignCost SplitClient::cost() const {
  const auto& c = inner_.model->config();
  const auto st = server_->stats();
  const auto cm = cost_model(c, std::max<std::int64_t>(1, seq_len_seen_));
  const double embed = c.tie_word_embeddings ? 0 : cm.embed_params;
  const double tokens = static_cast<double>(tokens_);
  DesignCost k;
  k.bytes_up_per_token = tokens_ ? static_cast<double>(st.bytes_sent) / tokens : 0.0;
  k.bytes_down_per_token = tokens_ ? static_cast<double>(st.bytes_received) / tokens : 0.0;
  k.owner_parameter_share = ((o_.k + o_.m) * cm.block_params + cm.head_params + embed) /
                            (c.num_layers * cm.block_params + cm.head_params + embed);
  k.enclave_parameter_share = 0;
  return k;
}

std::unique_ptr<train::DesignSession> open_split_session(const train::FinetuneConfig& cfg, const SplitOptions& o,
                                                         std::shared_ptr<transport::Endpoint> server) {
  return std::make_unique<SplitClient>(cfg, o, std::move(server));
}

}  // namespace veil::designs::guarded
