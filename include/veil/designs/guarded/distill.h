// Distillation of an `offsite` emulator on public text (Offsite-Tuning, Xiao et al. 2023, §3.3):
// the model owner trains the emulator's kept middle blocks so that the thinned middle imitates the
// full middle, before handing the emulator out. A better emulator gives the data owner adapters
// that transfer better to the full model; the emulator itself stays short of the full model.
//
// What is trained: every weight of the kept middle blocks (full fine-tuning: projections, norms,
// biases), with AdamW; the bottom and top blocks (the adapters' hosts), the embeddings, the final
// norm and the head stay frozen, so the adapter blocks keep their exact full-model weights.
// The teacher and the student see the same input at the middle (the bottom blocks are shared);
// the target is the full middle's output hidden state (`hidden`: mean squared error over the
// target's mean square) or the full model's next-token distribution (`logits`: KL(teacher‖student),
// through the frozen top blocks and head).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "veil/designs/guarded/offsite.h"
#include "veil/model/loader.h"

namespace veil::designs::guarded {

struct DistillOptions {
  std::filesystem::path data;       // public text (any format veil's datasets read), packed into rows
  std::filesystem::path tokenizer;  // the full model's tokenizer (HF directory or file)
  int steps = 0;                    // optimizer steps (0: no distillation)
  double lr = 1e-3;
  std::int64_t seq_len = 64;
  std::int64_t batch_size = 4;
  std::uint64_t seed = 0;
  std::string target = "hidden";    // hidden | logits
  // Throws std::invalid_argument naming the bad field.
  void validate() const;
};

struct DistillResult {
  int steps = 0;
  double first_loss = 0, last_loss = 0;  // mean over the first / last min(5, steps) steps
  double seconds = 0;
  [[nodiscard]] nlohmann::json to_json(const DistillOptions& o) const;
};

// Distils `emulator` (made by make_emulator(full, plan)) in place: its kept middle blocks get new
// weights (their own copies; `full` is not changed). Throws std::invalid_argument for bad options
// or data that yields no rows.
DistillResult distill_emulator(const model::ModelFiles& full, model::ModelFiles& emulator, const OffsitePlan& plan,
                               const DistillOptions& o);

}  // namespace veil::designs::guarded
