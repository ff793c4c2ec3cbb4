// GuardedTuning designs `split` and `gradfree` (after Shi et al., WWW 2025): the model is cut in a
// U shape. The data owner (client) keeps the embedding, blocks [0, k), blocks [L-m, L), the final
// norm and the LM head; the server runs the middle blocks [k, L-m). Between them cross only hidden
// states (and, in `split`, their gradients): never tokens, labels or the LM head.
//
// Wire protocol (ops of a `veil worker --design split|gradfree`):
//   split.open      ints {k, L-m, server_lora, lora_r}, meta {mix, lora_alpha, lr, seed}; tensors
//                   "w.<layer>.<proj>" / "n.<layer>.<i>" only with mix=orthogonal (the mixed middle
//                   weights, uploaded by the client; otherwise the server reads its own weights)
//   split.forward   ints {micro_batch_id, position_offset, want_grad}; the activation, either
//                   tensor "h" (f32 [B,T,d]) or "q" (int8/int16) + "scale" (f32 [B,T,1]) when
//                   quantized. Reply: the middle's output, same encoding.
//   split.backward  ints {micro_batch_id}; dL/d(output) as "g" (or "q"+"scale"). Reply: dL/d(input).
//   split.step      meta {lr}: one AdamW step of the server's own LoRA (server_lora=1 only).
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
};

// Parses --opt for `split` or `gradfree`. Throws std::invalid_argument naming the first unknown
// key or bad value. Keys: k, m, noise (none|gaussian|laplace), noise_scale, epsilon (Laplace,
// sets noise_scale = 1/epsilon), clip, dcor, quant_bits, mix (none|orthogonal), server_lora,
// workers (in-process), and for gradfree zo_bottom, zo_eps, zo_lr.
[[nodiscard]] SplitOptions parse_split_options(const std::string& design,
                                               const std::map<std::string, std::string>& opts);

// The privacy accounting of the noise option, for one release of one token's activation row of
// dimension `dim`: pure d_χ-privacy (Laplace, L1 metric), μ-GDP and (ε, δ=1e-5)-DP when rows are
// clipped. The same token released n times composes to √n·μ (Gaussian) or n·ε (Laplace).
[[nodiscard]] nlohmann::json noise_accounting(const SplitOptions& o, std::int64_t dim);

// A session for `split` (o.gradfree false) or `gradfree` talking to `server`; with a null server,
// an in-process worker is opened (designs::open_workers). Tests pass their own endpoint to read
// the server's audit tap.
[[nodiscard]] std::unique_ptr<train::DesignSession> open_split_session(const train::FinetuneConfig& cfg,
                                                                       const SplitOptions& o,
                                                                       std::shared_ptr<transport::Endpoint> server);

}  // namespace veil::designs::guarded
