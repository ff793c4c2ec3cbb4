// GuardedTuning designs `split` and `gradfree` (after Shi et al., WWW 2025): the model is cut in a
// U shape. The data owner (client) keeps the embedding, blocks [0, k), blocks [L-m, L), the final
// norm and the LM head; the server runs the middle blocks [k, L-m). Between them cross only hidden
// states (and, in `split`, their gradients): never tokens, labels or the LM head.
//
// Wire protocol (ops of a `veil worker --design split|gradfree`). Only what the server needs to
// compute its part is sent: never the client's seed or secret, learning rate or schedule.
//   split.open      ints {k, L-m, server_lora, lora_r (0 without server LoRA), quant_bits}, meta
//                   {mix} and, with server_lora only, {lora_alpha, lora_targets, lora_dropout,
//                   server_lr} (the server LoRA's constant rate; its seed is the server's own);
//                   tensors "w.<layer>.<proj>" / "b.<layer>.<proj>" only with mix=orthogonal (the
//                   mixed middle weights, uploaded by the client; otherwise the server reads its own)
//   split.forward   ints {micro_batch_id, position_offset, want_grad}; the activation, either
//                   tensor "h" (f32 [B,T,d]) or "q"/"q4" + "scale" when quantized. Every micro-batch
//                   is padded to the run's fixed [batch, seq_len], whatever its labels. Reply: the
//                   middle's output, same encoding (checked: shape, dtype, finite).
//   split.backward  ints {micro_batch_id}; dL/d(output) as "g" (or "q"+"scale"). Reply: dL/d(input).
//                   Sent for every training micro-batch, with or without targets.
//   split.step      nothing: one AdamW step of the server's own LoRA (server_lora=1) at server_lr;
//                   drops kept graphs.
// Positions are the only side information: Llama's rotary embedding needs the position offset
// (always 0 in training); GPT-2's learned positions are added by the client in embed().
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "veil/train/design.h"

namespace veil::transport {
class Endpoint;
}
namespace veil::train {
struct FinetuneConfig;
}

namespace veil::designs::guarded {

enum class Noise { kNone, kGaussian, kLaplace };

struct SplitOptions {
  int k = 1;                 // client blocks at the bottom
  int m = 1;                 // client blocks at the top
  Noise noise = Noise::kNone;
  double noise_scale = 0;    // Gaussian σ or Laplace b, per coordinate of what the client sends
  double clip = 0;           // > 0: each token's activation row is clipped to this L2 norm first
  double dcor = 0;           // weight of the distance-correlation penalty (NoPeek)
  int quant_bits = 0;        // 0: f32 on the wire; 2..16: per-row symmetric uniform quantization
  bool mix = false;          // random orthogonal mixing of the hidden dimension (Llama only)
  bool server_lora = false;  // LoRA on the server's blocks, trained by the server
  bool gradfree = false;     // the `gradfree` design: no gradient crosses the wire
  bool zo_bottom = false;    // gradfree: train the bottom adapters with a zeroth-order estimate
  double zo_eps = 1e-3;      // SPSA perturbation size
  double zo_lr = 0;          // 0: the run's --lr
  std::string secret_file;   // the client's secret (64 hex digits, 0600): read, or created if absent
  double server_lr = 0;      // server_lora: the server LoRA's constant rate (0: the run's --lr)
};

// Parses --opt for `split` or `gradfree`. Throws std::invalid_argument naming the first unknown
// key or bad value. Keys: k, m, noise (none|gaussian|laplace), noise_scale, epsilon (Laplace,
// sets noise_scale = 1/epsilon), clip, dcor, quant_bits, mix (none|orthogonal), server_lora,
// workers (in-process), secret_file, server_lr, and for gradfree zo_bottom, zo_eps, zo_lr.
[[nodiscard]] SplitOptions parse_split_options(const std::string& design,
                                               const std::map<std::string, std::string>& opts);

// The privacy accounting of the noise option per training example (a row of `seq_len` tokens of
// dimension `dim`, released `releases_per_example` times): the discrete Gaussian's zCDP and
// (ε, δ = 1e-5)-DP, or the discrete Laplace's pure ε-DP, both with the sensitivity of a whole
// example (one token changes every later position) when rows are clipped; see
// src/designs/guarded/accounting.h.
[[nodiscard]] nlohmann::json noise_accounting(const SplitOptions& o, std::int64_t dim, std::int64_t seq_len,
                                              std::int64_t releases_per_example);

// A session for `split` (o.gradfree false) or `gradfree` talking to `server`; with a null server,
// an in-process worker is opened (designs::open_workers). Tests pass their own endpoint to read
// the server's audit tap.
[[nodiscard]] std::unique_ptr<train::DesignSession> open_split_session(const train::FinetuneConfig& cfg,
                                                                       const SplitOptions& o,
                                                                       std::shared_ptr<transport::Endpoint> server);

}  // namespace veil::designs::guarded
