// What the worker saw, from its audit tap: in the full and matched variants no message holds a
// plaintext weight, a secret matrix or its inverse, or a plaintext activation; in the matched
// variant the worker can still form Q·Kᵀ (before RoPE) per head and sees each MLP row's values
// up to order and sign; in the paper's variant the worker sees exactly what
// docs/designs/obfuscatune.md says it sees (Q, K, V, the MLP's inner pre-activations, the
// attention output and the MLP activation, in the clear).
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include "designs/obfuscatune/obfuscatune_test_util.h"
#include "veil/model/causal_lm.h"
#include "veil/train/loss.h"

namespace veil::designs::obfuscatune {
namespace {

using model::Proj;
using testing::fixture;

struct Observed {
  std::vector<at::Tensor> worker_tensors;              // every tensor in every tapped message
  std::vector<transport::TapEntry> entries;            // the messages, in order
  std::map<std::string, std::vector<at::Tensor>> act;  // plaintext activations by hook name
};

Observed run(const std::string& fx, const std::map<std::string, std::string>& opts, model::LinearWeights* plain_w,
             std::vector<at::Tensor>* secrets) {
  auto files = model::read_model(fixture(fx));
  if (plain_w) *plain_w = files.weights.linear;
  const auto cfg = files.config;
  auto worker = testing::honest_worker(static_cast<int>(cfg.num_layers));
  ObfuscatuneEnclave e(std::move(files), ObfuscatuneOptions::parse(opts), worker.pool, testing::seeded_lora(cfg));
  Observed o;
  e.model().set_hook([&](std::string_view name, int layer, const at::Tensor& v) {
    o.act[std::string(name)].push_back(v.detach().reshape({-1, v.size(-1)}).clone());
  });
  auto gen = at::make_generator<at::CPUGeneratorImpl>(9);
  at::Tensor ids = at::randint(cfg.vocab_size, {2, 9}, gen, at::kLong);
  e.model().set_training(true);
  auto l = train::causal_lm_loss(e.model(), ids, ids).sum;
  l.backward();
  if (secrets) {
    const auto bp = model::block_projections(cfg.family);
    for (int layer = 0; layer < cfg.num_layers; ++layer)
      for (auto g : {bp.attn_in, bp.attn_out, bp.mlp_in, bp.mlp_out}) {
        for (const auto* t : {&e.executor().input_transform(layer, g[0])}) {
          if (t->is_identity()) continue;
          at::Tensor r = t->dense();
          secrets->push_back(r);
          secrets->push_back(at::linalg_inv(r));
        }
        for (Proj p : g) {
          const auto& t = e.executor().output_transform(layer, p);
          if (t.is_identity()) continue;
          at::Tensor r = t.dense();
          secrets->push_back(r);
          secrets->push_back(at::linalg_inv(r));
        }
      }
  }
  o.entries = worker.service->tap()->entries();
  for (const auto& entry : o.entries)
    for (const auto& [name, t] : entry.message.tensors) o.worker_tensors.push_back(t.to(at::kDouble));
  return o;
}

// Whether `seen` holds `secret` (as a whole, or as a same-width block of rows or columns).
bool contains(const at::Tensor& seen, const at::Tensor& secret) {
  at::Tensor s = secret.to(at::kDouble);
  if (s.dim() != 2 || seen.dim() != 2) return false;
  const double tol = 1e-4 * s.abs().max().item<double>() + 1e-12;
  auto near = [&](const at::Tensor& a, const at::Tensor& b) {
    return a.sizes() == b.sizes() && (a - b).abs().max().item<double>() <= tol;
  };
  if (near(seen, s) || near(seen, s.t())) return true;
  // Column blocks (a fused reply [N, Σ out] holding one projection's output).
  if (seen.size(0) == s.size(0) && seen.size(1) > s.size(1))
    for (std::int64_t c = 0; c + s.size(1) <= seen.size(1); c += s.size(1))
      if (near(seen.narrow(1, c, s.size(1)), s)) return true;
  return false;
}

// Nothing the worker received or sent is a plaintext weight or activation or a secret matrix.
void expect_no_plaintext_and_no_secrets(const std::string& fx, const std::map<std::string, std::string>& opts,
                                        const char* what) {
  model::LinearWeights w;
  std::vector<at::Tensor> secrets;
  auto o = run(fx, opts, &w, &secrets);
  ASSERT_GT(o.worker_tensors.size(), 20u);
  ASSERT_FALSE(secrets.empty());
  std::vector<at::Tensor> plaintext;
  for (const auto& [site, t] : w) plaintext.push_back(t);
  for (const auto& [name, list] : o.act)
    for (const auto& a : list) plaintext.push_back(a);
  for (const auto& seen : o.worker_tensors) {
    for (const auto& p : plaintext) ASSERT_FALSE(contains(seen, p)) << fx << " " << what << ": plaintext leaked";
    for (const auto& s : secrets) ASSERT_FALSE(contains(seen, s)) << fx << " " << what << ": secret leaked";
  }
}

// The worker's reply to the first forward call of `projs` at layer 0.
at::Tensor first_reply(const Observed& o, std::span<const Proj> projs) {
  std::vector<std::int32_t> ids;
  for (Proj p : projs) ids.push_back(static_cast<std::int32_t>(p));
  for (std::size_t i = 0; i + 1 < o.entries.size(); ++i) {
    const auto& q = o.entries[i].message;
    if (o.entries[i].direction == transport::Direction::kReceived && q.op == "obfuscatune.forward" && q.layer == 0 &&
        q.ints == ids)
      return o.entries[i + 1].message.tensor("y").to(at::kDouble);
  }
  return {};
}

TEST(ObfuscatuneAudit, MatchedVariantWorkerSeesNoPlaintextAndNoSecrets) {
  for (const char* fx : {"tiny-llama3", "tiny-gpt2"}) {
    for (const char* matrix : {"kronecker", "orthogonal"})
      expect_no_plaintext_and_no_secrets(fx, {{"variant", "matched"}, {"matrix", matrix}}, matrix);
    expect_no_plaintext_and_no_secrets(fx, {{"variant", "matched"}, {"mlp", "full"}}, "mlp=full");
  }
}

// What the matched variant does not hide, measured on the tap: R_qk cancels in Q·Kᵀ, so the worker
// forms every head's scores before RoPE; P·D permutes and flips, so every MLP row's multiset of
// absolute values is the plaintext one.
TEST(ObfuscatuneAudit, MatchedVariantWorkerCanFormScoresAndSeesMlpValuesUpToOrder) {
  for (const char* fx : {"tiny-llama3", "tiny-gpt2"}) {
    model::LinearWeights w;
    auto o = run(fx, {{"variant", "matched"}}, &w, nullptr);
    auto files = model::read_model(fixture(fx));
    const auto& cfg = files.config;
    const bool llama = cfg.family == model::Family::kLlama;
    const auto bp = model::block_projections(cfg.family);
    const at::Tensor x0 = o.act.at("attn_norm")[0].to(at::kDouble);
    const at::Tensor m0 = o.act.at("mlp_norm")[0].to(at::kDouble);
    const std::int64_t hd = cfg.head_dim, kvh = cfg.num_kv_heads, g = cfg.num_heads / kvh;
    const std::int64_t qw = cfg.num_heads * hd;
    // Plaintext q and k without bias and LoRA (what the worker's product is of).
    at::Tensor wqkv = llama ? at::cat({w.at({0, Proj::kQ}), w.at({0, Proj::kK})}) : w.at({0, Proj::kCAttn});
    at::Tensor qk = x0.mm(wqkv.to(at::kDouble).t());
    at::Tensor seen = first_reply(o, bp.attn_in);
    ASSERT_TRUE(seen.defined()) << fx;
    for (std::int64_t h = 0; h < cfg.num_heads; ++h) {
      const std::int64_t kh = h / g;
      auto head = [&](const at::Tensor& t, std::int64_t col) { return t.narrow(1, col, hd); };
      at::Tensor want = head(qk, h * hd).mm(head(qk, qw + kh * hd).t());
      at::Tensor got = head(seen, h * hd).mm(head(seen, qw + kh * hd).t());
      EXPECT_LT((got - want).abs().max().item<double>(), 1e-4 * want.abs().max().item<double>()) << fx << " head " << h;
      // ... while q itself is not in the clear.
      EXPECT_GT((head(seen, h * hd) - head(qk, h * hd)).abs().max().item<double>(), 1e-3) << fx << " head " << h;
    }
    const Proj first_mlp = bp.mlp_in[0];
    at::Tensor pre = m0.mm(w.at({0, first_mlp}).to(at::kDouble).t());  // gate (Llama) or c_fc
    at::Tensor mlp_seen = first_reply(o, bp.mlp_in).narrow(1, 0, pre.size(1));
    auto sorted_abs = [](const at::Tensor& t) { return std::get<0>(t.abs().sort(1)); };
    EXPECT_LT((sorted_abs(mlp_seen) - sorted_abs(pre)).abs().max().item<double>(), 1e-4 * pre.abs().max().item<double>())
        << fx;
    EXPECT_GT((mlp_seen - pre).abs().max().item<double>(), 1e-3) << fx << ": the permutation did nothing";
  }
}

TEST(ObfuscatuneAudit, FullVariantWorkerSeesNoPlaintextAndNoSecrets) {
  for (const char* fx : {"tiny-llama3", "tiny-gpt2"})
    for (const char* matrix : {"kronecker", "orthogonal", "hadamard"})
      expect_no_plaintext_and_no_secrets(fx, {{"variant", "full"}, {"matrix", matrix}}, matrix);
}

TEST(ObfuscatuneAudit, PaperVariantWorkerSeesQkvAndTheOutputProjectionInputs) {
  model::LinearWeights w;
  auto o = run("tiny-llama3", {{"variant", "paper"}}, &w, nullptr);
  auto seen_any = [&](const at::Tensor& a) {
    for (const auto& seen : o.worker_tensors)
      if (contains(seen, a)) return true;
    return false;
  };
  // The worker's q/k/v outputs are X·W_qᵀ etc. (tiny-llama3 has no biases; LoRA is added in the
  // enclave afterwards).
  const auto& x0 = o.act.at("attn_norm")[0];
  for (Proj p : {Proj::kQ, Proj::kK})
    EXPECT_TRUE(seen_any(x0.mm(w.at({0, p}).t()))) << model::proj_module_name(p) << " not seen in the clear";
  for (const auto& a : o.act.at("attn")) EXPECT_TRUE(seen_any(a)) << "attention output not seen in the clear";
  for (const auto& a : o.act.at("mlp_act")) EXPECT_TRUE(seen_any(a)) << "MLP activation not seen in the clear";
  // ... but never the inputs of q/k/v and gate/up (they are X·R_a).
  for (const auto& a : o.act.at("attn_norm")) EXPECT_FALSE(seen_any(a));
  for (const auto& a : o.act.at("mlp_norm")) EXPECT_FALSE(seen_any(a));
}

}  // namespace
}  // namespace veil::designs::obfuscatune
