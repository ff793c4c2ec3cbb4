#include "veil/designs/he_lora/executor.h"

#include <ATen/ATen.h>

#include <openssl/rand.h>

#include <chrono>
#include <numeric>
#include <shared_mutex>
#include <string>

#include "designs/he_lora/plan_weights.h"
#include "veil/designs/he_lora/options.h"
#include "veil/designs/he_lora/worker.h"
#include "veil/he/serialization.h"
#include "veil/util/check.h"

namespace veil::designs::he_lora {
namespace {

std::span<const std::uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
std::string str(const std::vector<std::uint8_t>& v) { return {v.begin(), v.end()}; }

std::vector<std::int32_t> group_ids(std::span<const model::Proj> projs) {
  std::vector<std::int32_t> g;
  for (auto p : projs) g.push_back(static_cast<std::int32_t>(p));
  return g;
}

std::vector<std::int64_t> leading(const at::Tensor& t, std::int64_t last) {
  auto s = t.sizes().vec();
  s.back() = last;
  return s;
}

}  // namespace

namespace {

// Parameter sets a worker may propose per session (exact: GPT-2 uses 3; compact fits the result
// bits per plan, so up to one per plan): each costs the data owner a client and, on first
// encryption, a CRS table of max_inner_dim x 2N words (268 MB at 8192 x 2048). Bounded in number
// and in the sum of max_inner_dim x N over the sets: eight full-size tables, 2.1 GB.
constexpr std::size_t kMaxParameterSets = 64;
constexpr std::uint64_t kMaxCrsCoefficients = std::uint64_t{8} * 8192 * 2048;

std::string random_bytes(std::size_t n) {
  std::string s(n, '\0');
  VEIL_CHECK_IO(RAND_bytes(reinterpret_cast<unsigned char*>(s.data()), static_cast<int>(n)) == 1,
                "OpenSSL RAND_bytes failed");
  return s;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

HeLoraExecutor::HeLoraExecutor(const model::ModelConfig& cfg, transport::WorkerPool pool, const he::Parameters& parms,
                               const model::ModelFiles& files, at::Tensor local_head, bool embed_on_worker)
    : cfg_(cfg), pool_(std::move(pool)), parms_(parms), local_head_(std::move(local_head)) {
  pool_.check_covers(static_cast<int>(cfg_.num_layers));
  // Per-session HE randomness: the CRS seed (and so every plan mask) is this session's own, so no
  // precomputation against the uniform parts carries over between sessions (docs/he.md §2.1).
  const std::string seed = random_bytes(parms_.crs_seed.size());
  std::copy(seed.begin(), seed.end(), parms_.crs_seed.begin());
  session_id_ = random_bytes(kSessionIdBytes);
  // The checks of every plan a worker may be asked for, from the public weights (kept: W·r).
  const auto t0 = std::chrono::steady_clock::now();
  const int L = static_cast<int>(cfg_.num_layers);
  for (const auto& g : all_groups(cfg_)) {
    if (g.layer == -1 && !embed_on_worker) continue;
    if (g.layer == L && local_head_.defined()) continue;
    for (int dir = 0; dir <= (g.layer == -1 ? 0 : 1); ++dir) {
      auto& v = checks_[{g.layer, g.group, dir}];
      for (const PlanWeights& w : plan_weights(files, g.layer, g.group, dir, parms_.poly_degree, parms_.max_inner_dim)) {
        const auto rows = static_cast<std::size_t>(w.data.size(0)), cols = static_cast<std::size_t>(w.data.size(1));
        auto c = std::make_shared<const he::ProductCheck>(he::ProductCheck::for_weights(
            std::span<const float>(w.data.data_ptr<float>(), rows * cols), rows, cols, w.transpose,
            static_cast<int>(parms_.weight_bits)));
        check_bytes_ += c->bytes();
        v.push_back(std::move(c));
      }
    }
  }
  check_stats_.setup_seconds = seconds_since(t0);
  transport::Message m;
  m.op = "he.setup";
  m.blobs["parameters"] = str(he::save(parms_));
  m.blobs["session"] = session_id_;
  for (const auto& w : pool_.workers()) (void)w.endpoint->call(m);
}

HeLoraExecutor::~HeLoraExecutor() {
  transport::Message m;
  m.op = "he.close";
  m.blobs["session"] = session_id_;
  for (const auto& w : pool_.workers()) {
    try {
      (void)w.endpoint->call(m);
    } catch (const std::exception&) {
      // best effort: the worker evicts idle sessions when it needs room
    }
  }
}

std::size_t HeLoraExecutor::check_bytes() const { return check_bytes_; }

HeLoraExecutor::CheckStats HeLoraExecutor::check_stats() const {
  CheckStats s;
  {
    std::lock_guard lock(mu_);
    s = check_stats_;
  }
  std::shared_lock client(client_mu_);
  for (const auto& [h, c] : clients_) {
    s.products += c->products_checked();
    s.product_seconds += static_cast<double>(c->check_nanoseconds()) * 1e-9;
    s.masks += c->masks_checked();
    s.mask_seconds += static_cast<double>(c->mask_check_nanoseconds()) * 1e-9;
  }
  return s;
}

void HeLoraExecutor::misbehaved(int layer, const std::exception& e) const {
  throw he::VerificationError(util::cat("he-lora: worker ", route(layer).peer(), " failed the data owner's check (layer ",
                                        layer, "): ", e.what()));
}

transport::Endpoint& HeLoraExecutor::route(int layer) const {
  const int L = static_cast<int>(cfg_.num_layers);
  if (layer < 0) return pool_.for_layer(0);
  if (layer >= L) return pool_.for_layer(L - 1);
  return pool_.for_layer(layer);
}

HeTraffic HeLoraExecutor::traffic() const {
  std::lock_guard lock(mu_);
  return traffic_;
}

std::size_t HeLoraExecutor::mask_bytes() const {
  std::shared_lock client(client_mu_);
  std::size_t total = 0;
  for (const auto& [h, c] : clients_) total += c->mask_bytes();
  return total;
}

std::vector<he::Parameters> HeLoraExecutor::plan_parameters() const {
  std::shared_lock client(client_mu_);
  std::vector<he::Parameters> out;
  for (const auto& [h, c] : clients_) out.push_back(c->context().parameters());
  return out;
}

he::HeMatmulClient& HeLoraExecutor::client_for(const he::Parameters& p, bool lookup) {
  const he::Parameters& b = parms_;
  VEIL_CHECK_ARG(security_bits(b) < 128 || security_bits(p) == 128, "he-lora: the worker proposed parameters below ",
                 "128-bit security (", p.to_string(), ")");
  VEIL_CHECK_ARG(p.crs_seed == b.crs_seed, "he-lora: the worker proposed another CRS seed");
  VEIL_CHECK_ARG(p.allow_insecure == b.allow_insecure && p.poly_degree == b.poly_degree &&
                     p.weight_bits == b.weight_bits && p.max_inner_dim <= std::max<std::uint32_t>(b.max_inner_dim, b.poly_degree),
                 "he-lora: the worker's plan parameters (", p.to_string(), ") do not fit the session's (", b.to_string(), ")");
  if (lookup) {
    VEIL_CHECK_ARG(p.input_l1 == 1 && p.input_bits == 2 && !p.compact(), "he-lora: the embedding lookup needs exact ",
                   "parameters for one-hot rows, got ", p.to_string());
  } else {
    VEIL_CHECK_ARG(p.input_bits == b.input_bits && p.precision == b.precision && p.input_l1 == 0,
                   "he-lora: the worker's plan parameters (", p.to_string(), ") do not fit the session's (",
                   b.to_string(), ")");
  }
  auto& c = clients_[p.hash()];
  if (!c) {
    const std::uint64_t crs = std::uint64_t{p.max_inner_dim} * p.poly_degree;
    if (clients_.size() > kMaxParameterSets || crs_coefficients_ + crs > kMaxCrsCoefficients) {
      clients_.erase(p.hash());
      VEIL_CHECK_ARG(false, "he-lora: the worker proposed more than ", kMaxParameterSets, " parameter sets or more ",
                     "than ", kMaxCrsCoefficients, " CRS coefficients in all");
    }
    crs_coefficients_ += crs;
    c = std::make_unique<he::HeMatmulClient>(p);
  }
  return *c;
}

const HeLoraExecutor::PlanSet& HeLoraExecutor::plans(int layer, const std::vector<std::int32_t>& group, int direction,
                                                      he::Layout layout) {
  auto key = std::make_tuple(layer, group, direction, static_cast<int>(layout));
  {
    std::lock_guard lock(mu_);
    if (auto it = plans_.find(key); it != plans_.end()) return it->second;
  }
  // One fetch per key even when pipelined micro-batches miss at once: a second add_plan_info of
  // the same plan would replace a mask another thread is decrypting with.
  std::lock_guard fetch(fetch_mu_);
  {
    std::lock_guard lock(mu_);
    if (auto it = plans_.find(key); it != plans_.end()) return it->second;
  }
  transport::Message req;
  req.op = "he.plan_info";
  req.layer = layer;
  req.ints = {direction, static_cast<std::int32_t>(layout)};
  req.ints.insert(req.ints.end(), group.begin(), group.end());
  req.blobs["session"] = session_id_;
  auto check = checks_.find({layer, group, direction});
  VEIL_CHECK_STATE(check != checks_.end(), "he-lora: no check for layer ", layer, " direction ", direction);
  auto reply = route(layer).call(req);
  PlanSet ps;
  std::uint64_t info_bytes = 0;
  try {
    // Counts the worker supplies are checked against what the data owner knows.
    if (reply.ints.size() != check->second.size() || reply.blobs.size() != 2 * check->second.size())
      throw he::VerificationError(util::cat("plan info check: ", reply.ints.size(), " plans and ", reply.blobs.size(),
                                            " blobs for ", check->second.size(), " inner chunks"));
    std::unique_lock client(client_mu_);
    for (std::size_t i = 0; i < reply.ints.size(); ++i) {
      const std::string& blob = reply.blob("p" + std::to_string(i));
      const std::string& pblob = reply.blob("s" + std::to_string(i));
      info_bytes += blob.size() + pblob.size();
      const auto& pc = check->second[i];
      if (reply.ints[i] != static_cast<std::int32_t>(pc->inner()))
        throw he::VerificationError(util::cat("plan info check: chunk ", i, " of ", reply.ints[i],
                                              " inner columns, the weights give ", pc->inner()));
      he::HeMatmulClient& c = client_for(he::load_parameters(bytes(pblob)), layer == -1);
      ps.ids.push_back(c.add_plan_info(bytes(blob), pc));  // checks the mask, column sums and scales
      ps.clients.push_back(&c);
      ps.chunk.push_back(reply.ints[i]);
    }
  } catch (const he::VerificationError& e) {
    misbehaved(layer, e);
  } catch (const std::invalid_argument& e) {
    misbehaved(layer, e);
  }
  VEIL_CHECK_ARG(!ps.ids.empty(), "he.plan_info: the worker returned no plans for layer ", layer);
  std::lock_guard lock(mu_);
  traffic_.plan_info_bytes += info_bytes;

  return plans_[key] = std::move(ps);
}

at::Tensor HeLoraExecutor::product(int layer, const std::vector<std::int32_t>& group, int direction,
                                   const at::Tensor& x2d) {
  const auto m = static_cast<std::size_t>(x2d.size(0));
  const std::int64_t k = x2d.size(1);
  const he::Layout layout = he::choose_layout(parms_, m);
  const PlanSet& ps = plans(layer, group, direction, layout);
  VEIL_CHECK_STATE(std::accumulate(ps.chunk.begin(), ps.chunk.end(), std::int64_t{0}) == k, "he-lora: the worker's ",
                   "plans for layer ", layer, " cover another inner dimension than ", k);
  transport::Message req;
  req.op = direction == 0 ? "he.forward" : "he.backward";
  req.layer = layer;
  req.ints = group;
  req.blobs["session"] = session_id_;
  std::vector<std::unique_ptr<he::HeMatmulClient::Upload>> pending(ps.ids.size());
  std::uint64_t up = 0;
  {
    std::shared_lock client(client_mu_);  // encryptions of concurrent micro-batches run side by side
    std::int64_t at0 = 0;
    for (std::size_t i = 0; i < ps.ids.size(); ++i) {
      at::Tensor xc = x2d.narrow(1, at0, ps.chunk[i]).contiguous();
      at0 += ps.chunk[i];
      std::span<const float> data(xc.data_ptr<float>(), m * static_cast<std::size_t>(ps.chunk[i]));
      auto blob = ps.clients[i]->encrypt(data, m, static_cast<std::size_t>(ps.chunk[i]), pending[i],
                                         direction == 1 ? ps.ids[i] : 0);
      up += blob.size();
      req.blobs["x" + std::to_string(i)] = str(blob);
    }
  }
  auto reply = route(layer).call(std::move(req));
  at::Tensor acc;
  std::uint64_t down = 0;
  std::shared_lock client(client_mu_);
  try {
    if (reply.blobs.size() != ps.ids.size())
      throw he::VerificationError(util::cat("result check: ", reply.blobs.size(), " results for ", ps.ids.size(),
                                            " inner chunks"));
    for (std::size_t i = 0; i < ps.ids.size(); ++i) {
      const std::string& blob = reply.blob("y" + std::to_string(i));
      down += blob.size();
      // The plan requested, its shapes and its Freivalds check (he::ProductCheck).
      std::vector<float> y = ps.clients[i]->decrypt(bytes(blob), *pending[i], ps.ids[i]);
      const auto n = static_cast<std::int64_t>(y.size() / m);
      at::Tensor t = at::from_blob(y.data(), {static_cast<std::int64_t>(m), n}, at::kFloat);
      if (acc.defined() && acc.size(1) != n)
        throw he::VerificationError(util::cat("result check: chunk ", i, " has ", n, " columns, chunk 0 ", acc.size(1)));
      acc = acc.defined() ? acc.add_(t) : t.clone();
    }
  } catch (const he::VerificationError& e) {
    misbehaved(layer, e);
  } catch (const std::invalid_argument& e) {  // malformed bytes, shapes, unknown plans (ProtocolError too)
    misbehaved(layer, e);
  }
  std::lock_guard lock(mu_);
  traffic_.uploads += ps.ids.size();
  traffic_.results += ps.ids.size();
  traffic_.upload_bytes += up;
  traffic_.result_bytes += down;
  traffic_.by_layer[layer].first += up;
  traffic_.by_layer[layer].second += down;
  return acc;
}

std::vector<at::Tensor> HeLoraExecutor::linear(int layer, std::span<const model::Proj> projs, const at::Tensor& x) {
  if (layer == static_cast<int>(cfg_.num_layers) && local_head_.defined()) return {at::linear(x, local_head_)};
  return LinearExecutor::linear(layer, projs, x);
}

std::vector<at::Tensor> HeLoraExecutor::forward(int layer, std::span<const model::Proj> projs, const at::Tensor& x) {
  at::NoGradGuard no_grad;
  const std::int64_t in = x.size(-1);
  at::Tensor y = product(layer, group_ids(projs), 0, x.detach().reshape({-1, in}).to(at::kFloat).contiguous());
  std::vector<at::Tensor> out;
  std::int64_t at0 = 0;
  for (auto p : projs) {
    const std::int64_t n = model::proj_shape(cfg_, p).first;
    out.push_back(y.narrow(1, at0, n).reshape(leading(x, n)).to(x.scalar_type()));
    at0 += n;
  }
  VEIL_CHECK_STATE(at0 == y.size(1), "he-lora: worker returned ", y.size(1), " outputs, expected ", at0);
  return out;
}

at::Tensor HeLoraExecutor::backward(int layer, std::span<const model::Proj> projs, std::span<const at::Tensor> grads) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> flat;
  for (const auto& g : grads) flat.push_back(g.detach().reshape({-1, g.size(-1)}).to(at::kFloat));
  at::Tensor g2d = at::cat(flat, 1).contiguous();
  at::Tensor gx = product(layer, group_ids(projs), 1, g2d);
  const std::int64_t in = model::proj_shape(cfg_, projs[0]).second;
  return gx.reshape(leading(grads[0], in)).to(grads[0].scalar_type());
}

at::Tensor HeLoraExecutor::embed(const at::Tensor& ids) {
  at::NoGradGuard no_grad;
  at::Tensor flat = ids.reshape({-1}).to(at::kLong).contiguous();
  const auto m = static_cast<std::size_t>(flat.numel());
  const std::int64_t vocab = cfg_.vocab_size, d = cfg_.hidden_size;
  const he::Layout layout = he::choose_layout(parms_, m);
  const PlanSet& ps = plans(-1, {kEmbedGroup}, 0, layout);
  VEIL_CHECK_STATE(ps.ids.size() == 1 && ps.chunk[0] >= 1, "he-lora: the worker's embedding plan is not a lookup");
  const std::int64_t c = ps.chunk[0], chunks = (vocab + c - 1) / c;
  const std::int64_t* id = flat.data_ptr<std::int64_t>();
  std::vector<std::int32_t> one_hot(m * static_cast<std::size_t>(c), 0);
  for (std::size_t r = 0; r < m; ++r) {
    VEIL_CHECK_ARG(id[r] >= 0 && id[r] < vocab, "token id ", id[r], " outside the vocabulary [0, ", vocab, ")");
    one_hot[r * static_cast<std::size_t>(c) + static_cast<std::size_t>(id[r] % c)] = 1;
  }
  std::unique_ptr<he::HeMatmulClient::Upload> pending;
  transport::Message req;
  req.op = "he.forward";
  req.layer = -1;
  req.ints = {kEmbedGroup};
  req.blobs["session"] = session_id_;
  std::uint64_t up = 0, down = 0;
  {
    std::shared_lock client(client_mu_);
    auto blob = ps.clients[0]->encrypt_integer(one_hot, m, static_cast<std::size_t>(c), pending);
    up = blob.size();
    req.blobs["x0"] = str(blob);
  }
  auto reply = route(-1).call(std::move(req));
  at::Tensor out = at::empty({static_cast<std::int64_t>(m), d}, at::kFloat);
  try {
    if (reply.blobs.size() != 1) throw he::VerificationError("result check: the embedding needs one result");
    const std::string& blob = reply.blob("y0");
    down = blob.size();
    std::shared_lock client(client_mu_);
    std::vector<std::int64_t> y = ps.clients[0]->decrypt_integer(bytes(blob), *pending, nullptr, ps.ids[0]);
    std::span<const float> scale = ps.clients[0]->output_scales(ps.ids[0], layout);
    const std::size_t cols = static_cast<std::size_t>(chunks * d);
    VEIL_CHECK_STATE(y.size() == m * cols && scale.size() == cols, "he-lora: the embedding result has ", y.size(),
                     " values, expected ", m, " x ", cols);
    float* o = out.data_ptr<float>();
    for (std::size_t r = 0; r < m; ++r) {
      const std::size_t base = static_cast<std::size_t>(id[r] / c * d);
      for (std::size_t j = 0; j < static_cast<std::size_t>(d); ++j)
        o[r * static_cast<std::size_t>(d) + j] = static_cast<float>(y[r * cols + base + j]) * scale[base + j];
    }
  } catch (const he::VerificationError& e) {
    misbehaved(-1, e);
  } catch (const std::invalid_argument& e) {
    misbehaved(-1, e);
  }
  {
    std::lock_guard lock(mu_);
    traffic_.uploads += 1;
    traffic_.results += 1;
    traffic_.upload_bytes += up;
    traffic_.result_bytes += down;
    traffic_.by_layer[-1].first += up;
    traffic_.by_layer[-1].second += down;
  }
  auto shape = ids.sizes().vec();
  shape.push_back(d);
  return out.reshape(shape);
}

}  // namespace veil::designs::he_lora
