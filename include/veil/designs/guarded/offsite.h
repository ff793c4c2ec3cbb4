// The `offsite` design (after Offsite-Tuning, Xiao et al. 2023): the model owner gives the data
// owner an emulator — the bottom k and top m blocks as they are (the trainable adapters' hosts) and
// a uniformly thinned copy of the middle — and plugs the returned adapters into the full model.
// Nothing crosses a wire during training; the model owner's protection is the utility gap between
// the emulator and the full model.
//
// Files: an emulator is an ordinary HF model directory plus veil_offsite.json (the plan below);
// a fine-tuning run on it writes the same file beside its adapter, so `veil offsite plug` can map
// the adapter's layers back to the full model.
#pragma once

#include <filesystem>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "veil/model/loader.h"
#include "veil/model/lora.h"
#include "veil/train/design.h"

namespace veil::designs::guarded {

inline constexpr const char* kOffsitePlanFile = "veil_offsite.json";

struct OffsitePlan {
  int full_layers = 0;
  int bottom = 0, top = 0;  // adapter blocks at each end (kept as they are)
  std::vector<int> layers;  // emulator layer i is full layer layers[i]
  nlohmann::json distillation;  // how the middle was distilled (distill.h); null: layer drop only
  [[nodiscard]] int emulator_layers() const { return static_cast<int>(layers.size()); }
  // Whether emulator layer i hosts an adapter (bottom or top block).
  [[nodiscard]] bool is_adapter_layer(int i) const { return i < bottom || i >= emulator_layers() - top; }
  [[nodiscard]] nlohmann::json to_json() const;
  // Throws std::invalid_argument for an inconsistent plan.
  [[nodiscard]] static OffsitePlan from_json(const nlohmann::json& j);
  static OffsitePlan read(const std::filesystem::path& dir);
  void write(const std::filesystem::path& dir) const;
};

// Keeps blocks [0, bottom) and [L-top, L) and `keep` of the middle blocks, spread uniformly
// (first and last middle block included when keep >= 2). Throws std::invalid_argument.
[[nodiscard]] OffsitePlan plan_emulator(int num_layers, int bottom, int top, int keep);

// The emulator's configuration and weights (layers renumbered 0..K-1; embeddings, final norm and
// LM head unchanged).
[[nodiscard]] model::ModelFiles make_emulator(const model::ModelFiles& full, const OffsitePlan& plan);
// Writes the emulator of `model` into `out` (HF layout, tokenizer files copied, plan file).
void write_emulator(const std::filesystem::path& model, const OffsitePlan& plan, const std::filesystem::path& out);
// Writes a given emulator of `model` (e.g. distilled) the same way.
void write_emulator(const std::filesystem::path& model, const model::ModelFiles& emulator, const OffsitePlan& plan,
                    const std::filesystem::path& out);

// The emulator's adapters on the full model: emulator layer i becomes full layer layers[i].
// Throws std::invalid_argument when an adapter sits on a middle (emulated) block.
[[nodiscard]] std::shared_ptr<model::LoraAdapters> plug_adapter(const model::LoraAdapters& emulator_adapters,
                                                               const model::ModelConfig& full, const OffsitePlan& plan);

// The data owner's session: fine-tunes the emulator at cfg.model (a directory with
// veil_offsite.json), or, given a full model, the emulator of --opt k, m, keep built in memory
// (then each evaluation also reports the full model with the adapter plugged in), distilled first
// with --opt distill_data=FILE distill_steps=N [distill_lr, distill_seq_len, distill_batch,
// distill_target=hidden|logits] (distill.h; the model owner's step, simulated).
[[nodiscard]] std::unique_ptr<train::DesignSession> open_offsite_session(const train::FinetuneConfig& cfg);

}  // namespace veil::designs::guarded
