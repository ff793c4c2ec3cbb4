#include "designs/obfuscatune/matched.h"

#include <ATen/ATen.h>

#include <cmath>
#include <map>
#include <vector>

#include "veil/model/blocks.h"
#include "veil/model/family.h"
#include "veil/util/check.h"

namespace veil::designs::obfuscatune {
namespace {

using model::Family;
using model::Proj;

// n Haar-random orthogonal b×b blocks, [n, b, b] float64.
at::Tensor haar_blocks(std::int64_t n, std::int64_t b, SecretRng& rng) {
  std::vector<at::Tensor> out;
  for (std::int64_t i = 0; i < n; ++i) {
    auto [q, r] = at::linalg_qr(rng.normal({b, b}));
    out.push_back(q.mul_(at::sign(r.diagonal()).unsqueeze(0)));
  }
  return at::stack(out).contiguous();
}

// n head blocks [n, hd, hd] of 2×2 rotations by secret angles on the RoPE pairs (i, i + hd/2)
// (the rotate_half convention): the only orthogonal maps that commute with RoPE at every
// position (two rotations of one plane commute; nothing may mix pairs of different frequency).
at::Tensor rope_rotation_blocks(std::int64_t n, std::int64_t hd, SecretRng& rng) {
  VEIL_CHECK_ARG(hd % 2 == 0, "obfuscatune: matched variant needs an even head_dim for RoPE, got ", hd);
  const std::int64_t half = hd / 2;
  at::Tensor theta = rng.uniform({n, half}) * (2.0 * M_PI);
  at::Tensor c = at::cos(theta), s = at::sin(theta);
  at::Tensor blocks = at::zeros({n, hd, hd}, at::kDouble);
  for (std::int64_t i = 0; i < half; ++i) {
    const std::int64_t j = i + half;
    blocks.select(1, i).select(1, i).copy_(c.select(1, i));
    blocks.select(1, i).select(1, j).copy_(s.select(1, i));
    blocks.select(1, j).select(1, i).copy_(-s.select(1, i));
    blocks.select(1, j).select(1, j).copy_(c.select(1, i));
  }
  return blocks;
}

// The two families' steps with q/k/v, the attention output and the MLP activation obfuscated.
class MatchedModel final : public model::CausalLM {
 public:
  MatchedModel(model::ModelConfig cfg, model::ModelParams params, std::shared_ptr<ObfuscatedExecutor> exec)
      : CausalLM(std::move(cfg), std::move(params), exec), exec_(std::move(exec)) {
    // The frozen biases of kept outputs, moved into the executor's coordinates once (b·R_out).
    for (int l = 0; l < cfg_.num_layers; ++l)
      for (const auto& [p, b] : params_.blocks[l].bias)
        if (exec_->output_kept(l, p)) moved_bias_[{l, p}] = exec_->output_transform(l, p).apply(b, Side::kR).detach();
  }

  at::Tensor embed(const at::Tensor& ids, std::int64_t offset) override {
    at::Tensor e = at::embedding(params_.tok_emb, ids);
    if (model::family_traits(cfg_.family).positions == model::Positions::kLearned)
      e = e + at::embedding(params_.pos_emb, at::arange(offset, offset + ids.size(1), at::kLong));
    return e;
  }

  at::Tensor final_norm(const at::Tensor& h) override { return norm(h, params_.final_norm_w, params_.final_norm_b); }

  at::Tensor block(int l, const at::Tensor& h, model::KvCache* cache, std::int64_t offset) override {
    return cfg_.family == Family::kLlama ? llama_block(l, h, cache, offset) : gpt2_block(l, h, cache, offset);
  }

 private:
  static constexpr Proj kQkv[] = {Proj::kQ, Proj::kK, Proj::kV};
  static constexpr Proj kO[] = {Proj::kO};
  static constexpr Proj kGateUp[] = {Proj::kGate, Proj::kUp};
  static constexpr Proj kDown[] = {Proj::kDown};
  static constexpr Proj kCAttn[] = {Proj::kCAttn};
  static constexpr Proj kAttnProj[] = {Proj::kAttnCProj};
  static constexpr Proj kFc[] = {Proj::kCFc};
  static constexpr Proj kMlpProj[] = {Proj::kMlpCProj};

  at::Tensor norm(const at::Tensor& h, const at::Tensor& w, const at::Tensor& b) const {
    return model::family_traits(cfg_.family).norm == model::Norm::kRms ? model::rms_norm(h, w, cfg_.norm_eps) : model::layer_norm(h, w, b, cfg_.norm_eps);
  }

  // Plaintext of an output / group input the executor keeps obfuscated (others are plaintext
  // already), for the activation hooks and LoRA dropout.
  at::Tensor clear_output(int l, Proj p, const at::Tensor& y) const {
    return exec_->output_kept(l, p) ? exec_->output_transform(l, p).apply(y, Side::kInverse) : y;
  }
  at::Tensor clear_input(int l, Proj p, const at::Tensor& x) const {
    return exec_->input_preapplied(l, p) ? exec_->input_transform(l, p).apply(x, Side::kInverse) : x;
  }

  // CausalLM::project in the executor's coordinates: an output the executor keeps obfuscated
  // (·R_out) gets its bias as b·R_out and its LoRA branch as (x·Aᵀ·s)·(Bᵀ·R_out); a group input
  // that arrives obfuscated (x* = x·R_in) meets A·R_in, since x·Aᵀ = x*·(A·R_in)ᵀ. The factors
  // are r×d, so moving them costs nothing next to the activations; autograd carries the
  // gradients back to A and B in plaintext coordinates.
  std::vector<at::Tensor> project_matched(int l, std::span<const Proj> projs, const at::Tensor& x) {
    auto ys = executor_->linear(l, projs, x);
    VEIL_CHECK_STATE(ys.size() == projs.size(), "executor returned ", ys.size(), " outputs for ", projs.size(),
                     " projections");
    const model::BlockParams& bp = params_.blocks[l];
    for (std::size_t i = 0; i < projs.size(); ++i) {
      const Proj p = projs[i];
      const model::LinearSite site{l, p};
      const bool kept = exec_->output_kept(l, p), pre = exec_->input_preapplied(l, p);
      const at::Tensor* bias = nullptr;
      if (auto it = bp.bias.find(p); it != bp.bias.end()) bias = kept ? &moved_bias_.at(site) : &it->second;
      if (lora_ && lora_->has(site)) {
        at::Tensor h, bt;  // the rank-r intermediate (x·Aᵀ·s) and Bᵀ, in the executor's coordinates
        const auto& pair = lora_->pairs().at(site);
        if (!kept && !pre) {
          h = lora_->down(site, x);
          bt = pair.b.t();
        } else {
          const auto& lc = lora_->config();
          at::Tensor xin = x, a = pair.a;
          if (training_ && lc.dropout > 0) {
            // Dropout masks plaintext coordinates, as PEFT's does: restore the input first.
            xin = at::dropout(pre ? clear_input(l, p, x) : x, lc.dropout, true);
          } else if (pre) {
            a = exec_->input_transform(l, p).apply(pair.a, Side::kR);
          }
          h = at::linear(xin, a) * lc.scaling();
          bt = kept ? exec_->output_transform(l, p).apply(pair.b.t(), Side::kR) : pair.b.t();
        }
        // As CausalLM::project: the base output plus h·Bᵀ in one addmm, then the bias in place.
        auto sizes = ys[i].sizes().vec();
        at::Tensor out = at::addmm(ys[i].reshape({-1, sizes.back()}), h.reshape({-1, h.size(-1)}), bt);
        if (bias) out.add_(*bias);
        ys[i] = out.view(sizes);
      } else if (bias) {
        ys[i] = ys[i] + *bias;
      }
    }
    return ys;
  }

  at::Tensor llama_block(int l, const at::Tensor& h, model::KvCache* cache, std::int64_t offset) {
    const model::BlockParams& p = params_.blocks[l];
    at::Tensor x = model::rms_norm(h, p.norm1_w, cfg_.norm_eps);
    emit("attn_norm", l, x);
    auto qkv = project_matched(l, kQkv, x);  // q·R_qk, k·R_qk, v·R_v
    if (hook_) {
      emit("q", l, clear_output(l, Proj::kQ, qkv[0]));
      emit("k", l, clear_output(l, Proj::kK, qkv[1]));
      emit("v", l, clear_output(l, Proj::kV, qkv[2]));
    }
    // RoPE commutes with R_qk, so the scores are the plaintext ones; the output is a·R_v per head.
    at::Tensor a = model::attention_core(cfg_, qkv[0], qkv[1], qkv[2], &rope_, cache, l, offset);
    if (hook_) emit("attn", l, clear_input(l, Proj::kO, a));
    at::Tensor h1 = h + project_matched(l, kO, a)[0];
    x = model::rms_norm(h1, p.norm2_w, cfg_.norm_eps);
    emit("mlp_norm", l, x);
    auto gu = project_matched(l, kGateUp, x);  // gate·P, up·P·D (plaintext with mlp=full)
    at::Tensor act = model::swiglu(gu[0], gu[1]);  // (silu(gate)⊙up)·P·D
    if (hook_) emit("mlp_act", l, clear_input(l, Proj::kDown, act));
    return h1 + project_matched(l, kDown, act)[0];
  }

  at::Tensor gpt2_block(int l, const at::Tensor& h, model::KvCache* cache, std::int64_t offset) {
    const model::BlockParams& p = params_.blocks[l];
    at::Tensor x = model::layer_norm(h, p.norm1_w, p.norm1_b, cfg_.norm_eps);
    emit("attn_norm", l, x);
    at::Tensor qkv = project_matched(l, kCAttn, x)[0];  // [q·R_qk | k·R_qk | v·R_v]
    if (hook_) {
      auto clear = clear_output(l, Proj::kCAttn, qkv).split(cfg_.hidden_size, -1);
      emit("q", l, clear[0]);
      emit("k", l, clear[1]);
      emit("v", l, clear[2]);
    }
    auto parts = qkv.split(cfg_.hidden_size, -1);
    at::Tensor a = model::attention_core(cfg_, parts[0], parts[1], parts[2], nullptr, cache, l, offset);
    if (hook_) emit("attn", l, clear_input(l, Proj::kAttnCProj, a));
    at::Tensor h1 = h + project_matched(l, kAttnProj, a)[0];
    x = model::layer_norm(h1, p.norm2_w, p.norm2_b, cfg_.norm_eps);
    emit("mlp_norm", l, x);
    at::Tensor act = model::gelu_tanh(project_matched(l, kFc, x)[0]);  // gelu(h)·P
    if (hook_) emit("mlp_act", l, clear_input(l, Proj::kMlpCProj, act));
    return h1 + project_matched(l, kMlpProj, act)[0];
  }

  std::shared_ptr<ObfuscatedExecutor> exec_;
  std::map<model::LinearSite, at::Tensor> moved_bias_;
};

}  // namespace

MatchedLayer draw_matched_layer(const model::ModelConfig& cfg, SecretRng& rng, bool mlp_full) {
  const std::int64_t heads = cfg.num_heads, kv = cfg.num_kv_heads, hd = cfg.head_dim;
  VEIL_CHECK_ARG(kv >= 1 && heads % kv == 0, "obfuscatune: ", heads, " heads do not group over ", kv, " KV heads");
  const auto& traits = model::family_traits(cfg.family);
  // Under RoPE the q/k rotations must commute with the position rotation.
  at::Tensor qk = traits.positions == model::Positions::kRope ? rope_rotation_blocks(kv, hd, rng) : haar_blocks(kv, hd, rng);
  at::Tensor v = haar_blocks(kv, hd, rng);
  // Query head h attends with KV head h / (heads / kv): it shares that head's R_qk, and its
  // output carries that head's R_v.
  at::Tensor v_per_query = v.repeat_interleave(heads / kv, 0);
  MatchedLayer m;
  const auto bp = traits.blocks;
  if (bp.attn_in.size() == 3) {  // separate q, k, v
    m.kept_out[bp.attn_in[0]] = SecretTransform::block_diagonal(qk.repeat_interleave(heads / kv, 0));
    m.kept_out[bp.attn_in[1]] = SecretTransform::block_diagonal(qk);
    m.kept_out[bp.attn_in[2]] = SecretTransform::block_diagonal(v);
  } else {
    VEIL_CHECK_ARG(heads * hd == cfg.hidden_size, "obfuscatune: GPT-2 heads × head_dim must equal hidden_size");
    m.kept_out[bp.attn_in[0]] = SecretTransform::block_diagonal(at::cat({qk, qk, v}));  // fused q|k|v
  }
  m.preapplied_in[bp.attn_out[0]] = SecretTransform::block_diagonal(v_per_query);
  if (mlp_full) return m;
  const std::int64_t inner = cfg.intermediate_size;
  at::Tensor perm = rng.permutation(inner);
  at::Tensor ones = at::ones({inner}, at::kDouble);
  if (bp.mlp_in.size() == 2) {  // gated: gate, up
    at::Tensor signs = rng.signs(inner);  // up may flip signs: silu(g)⊙(−u) = −(silu(g)⊙u)
    m.kept_out[bp.mlp_in[0]] = SecretTransform::signed_permutation(perm, ones);
    m.kept_out[bp.mlp_in[1]] = SecretTransform::signed_permutation(perm, signs);
    m.preapplied_in[bp.mlp_out[0]] = SecretTransform::signed_permutation(perm, signs);
  } else {
    m.kept_out[bp.mlp_in[0]] = SecretTransform::signed_permutation(perm, ones);  // GELU admits no sign flip
    m.preapplied_in[bp.mlp_out[0]] = SecretTransform::signed_permutation(perm, ones);
  }
  return m;
}

std::unique_ptr<model::CausalLM> make_matched_model(model::ModelConfig cfg, model::ModelParams params,
                                                    std::shared_ptr<ObfuscatedExecutor> executor) {
  VEIL_CHECK_ARG(executor != nullptr, "obfuscatune: matched model needs its executor");
  VEIL_CHECK_ARG(cfg.family == Family::kLlama || cfg.family == Family::kGpt2,
                 "obfuscatune: the matched model has blocks for gpt2 and llama only, not ", model::family_name(cfg.family));
  return std::make_unique<MatchedModel>(std::move(cfg), std::move(params), std::move(executor));
}

}  // namespace veil::designs::obfuscatune
