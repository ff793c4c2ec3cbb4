// Attacks that map observed hidden states back to tokens, using only the public base model
// (white-box) or public text:
//   - nearest-neighbour inversion: match each observed state against the states that every
//     vocabulary token produces through the public first `layer` blocks;
//   - a learned inversion model (SIP-style): an MLP trained on public text to map states to tokens.
#pragma once

#include <cstdint>
#include <memory>

#include <ATen/core/Tensor.h>

namespace veil::model {
class CausalLM;
}

namespace veil::eval {

struct NnInversionOptions {
  // Candidates per position taken from the context-free table (each token alone through the
  // public blocks) and then checked exactly in the recovered context. 1 = table only.
  std::int64_t shortlist = 8;
};

// Recovers ids [B, T] from hidden [B, T, H], the input of block `layer` of `public_model`.
// Layer 0 is an exact nearest neighbour in the embedding table; deeper layers decode left to
// right, checking the shortlist's candidates with the already recovered prefix.
// Throws std::invalid_argument for a shape that does not fit the model.
[[nodiscard]] at::Tensor nn_inversion(model::CausalLM& public_model, const at::Tensor& hidden, int layer,
                                      const NnInversionOptions& options = {});

struct LearnedInversionOptions {
  std::int64_t hidden_units = 256;  // 0: a linear map
  std::int64_t steps = 300;
  std::int64_t batch = 512;         // positions per step
  double lr = 3e-3;
  double random_token_fraction = 0.25;  // positions given a uniformly random token (see train())
  std::uint64_t seed = 0;
};

// A map from the hidden states at the input of block `layer` to token logits, trained on the
// states of public text through the public model.
class LearnedInverter {
 public:
  // public_ids: [N, T] rows of public text; a random_token_fraction of their positions is
  // replaced by uniformly random tokens, so the inverter also learns tokens public text rarely
  // holds (the vocabulary is public). Throws std::invalid_argument for bad shapes.
  [[nodiscard]] static LearnedInverter train(model::CausalLM& public_model, const at::Tensor& public_ids, int layer,
                                             const LearnedInversionOptions& options = {});
  [[nodiscard]] at::Tensor logits(const at::Tensor& hidden) const;  // [.., V]
  [[nodiscard]] at::Tensor invert(const at::Tensor& hidden) const;  // ids [..]
  [[nodiscard]] int layer() const { return layer_; }
  [[nodiscard]] double train_accuracy() const { return train_accuracy_; }

 private:
  int layer_ = 0;
  double train_accuracy_ = 0;
  at::Tensor mean_, scale_;  // input standardisation
  at::Tensor w1_, b1_, w2_, b2_;
};

}  // namespace veil::eval
