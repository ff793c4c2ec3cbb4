// Random-initialised checkpoints of any configuration (`veil init`), written tensor by tensor so a
// writer's memory does not grow with the model. Names and shapes come from the family's export map
// (family.h), so the files load with read_model like a Hugging Face checkpoint.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <vector>

#include "veil/checkpoint/stream_writer.h"
#include "veil/model/config.h"

namespace veil::model {

// HF tensor names and shapes of `cfg`'s checkpoint, every tensor stored as `dtype` (tied heads
// are not stored, as save_pretrained does). Throws std::invalid_argument for an invalid config.
[[nodiscard]] std::vector<checkpoint::TensorSpec> checkpoint_layout(const ModelConfig& cfg, checkpoint::DType dtype);

// The family's random initialisation (Hugging Face's _init_weights with initializer_range 0.02):
// matrices and embeddings normal(0, 0.02), GPT-2's c_proj weights normal(0, 0.02 / sqrt(2 * layers)),
// norm weights 1, biases 0. Each tensor draws from its own generator, seeded from `seed` and its
// name, so the bytes do not depend on order or sharding. Writes spec.nbytes() bytes to `sink` in
// pieces of at most 16 MiB of float32.
void random_tensor_bytes(const ModelConfig& cfg, const checkpoint::TensorSpec& spec, std::uint64_t seed,
                         const checkpoint::ByteSink& sink);

struct RandomCheckpointOptions {
  checkpoint::DType dtype = checkpoint::DType::BF16;  // F32, F16 or BF16
  std::uint64_t seed = 0;
  // Above this many bytes of tensor data the weights go to model-0000i-of-0000N.safetensors shards
  // and model.safetensors.index.json; at or below it, to one model.safetensors.
  std::uint64_t max_shard_bytes = std::uint64_t{2} << 30;
  // Called after each tensor is written, with the bytes written so far and in all.
  std::function<void(const checkpoint::TensorSpec& done, std::uint64_t bytes_done, std::uint64_t bytes_total)> on_tensor;
};

struct RandomCheckpointInfo {
  std::size_t shards = 0;  // 0: one model.safetensors
  std::uint64_t bytes = 0;
  std::int64_t parameters = 0;
};

// Writes cfg's random weights into `dir` (which must exist). Throws std::invalid_argument for a
// non-floating dtype or a bad config, std::runtime_error on I/O.
RandomCheckpointInfo write_random_weights(const std::filesystem::path& dir, const ModelConfig& cfg,
                                          const RandomCheckpointOptions& opts);

}  // namespace veil::model
