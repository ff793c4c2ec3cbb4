// Options of the he-lora design (`--opt key=value`), shared by the data owner and its workers.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "veil/he/parameters.h"
#include "veil/model/config.h"

namespace veil::designs::he_lora {

struct HeLoraOptions {
  int bits = 8;                  // activations and gradients, quantised per row (dynamic)
  int weight_bits = 8;           // base weights, quantised per output channel on the worker
  int skip_backward_layers = 0;  // no adapters (hence no backward pass) in the first N layers
  bool lm_head_on_worker = true;     // lm_head=worker|local
  bool embed_on_worker = true;       // embed=worker|local (encrypted one-hot product)
  int in_process_workers = 1;        // workers=in-process[:N] when no --workers are given
  // pipeline=auto|on|off: a step's micro-batches (--grad-accum > 1) in flight at once, so that the
  // data owner encrypts or decrypts one while workers multiply another (bit-identical to off:
  // gradients are added in micro-batch order). auto (default): on with remote workers (--workers),
  // off with in-process ones, which share the data owner's cores (docs §3.3: no gain measured on 2
  // cores). Always off with LoRA dropout (its RNG order would change).
  enum class Pipeline { kAuto, kOn, kOff } pipeline = Pipeline::kAuto;
  int in_flight = 0;                 // micro-batches in flight at once; 0: max(2, workers)
  // precision=exact|compact (docs/he.md §3.1): exact decrypts the integer products exactly
  // (bit-identical runs); compact uses Delta = 2^6 and fewer result bits (noise and rounding at
  // ~0.35 of the 8-bit quantisation error, never wrapped around), about half the bytes on the wire.
  he::Precision precision = he::Precision::kExact;

  // Parses --opt pairs. Throws std::invalid_argument naming an unknown key or a bad value.
  [[nodiscard]] static HeLoraOptions parse(const std::map<std::string, std::string>& opts);
};

// The largest inner dimension one encrypted product covers; longer ones (a large vocabulary, the
// fused gate/up gradient of a 1B model) are split into chunks whose decrypted products are summed by
// the data owner. 4096 keeps 8-bit x 8-bit products at log q = 52, within 53, the largest modulus
// the current lattice estimates allow at 128 bits for N = 2048 (docs/he.md §3); 8192 needed 54
// (the 2018 table's limit), which now means N = 4096: twice every NTT, and each 2048-wide decode
// upload padded to 4096 coefficients.
inline constexpr std::int64_t kMaxChunk = 4096;

// The encryption parameters for a model: the smallest secure ones covering every inner dimension
// the protocol uses (forward: inputs of each projection; backward: outputs of each input-sharing
// group; the embedding's one-hot and the LM head's gradient, both chunked at kMaxChunk). Throws
// std::invalid_argument when no parameters exist for the bit widths (e.g. 16 x 16 bits).
// These are the session's parameters (he.setup: bit widths, precision, ring dimension, chunking);
// each plan then runs under parameters the worker fits to its actual weights (same N, bit widths
// and precision; smaller t and Delta; the data owner checks them, executor.cpp). N is at least what
// the exact embedding lookup needs (2048 for 8-bit weights).
[[nodiscard]] he::Parameters parameters_for(const model::ModelConfig& cfg, int bits, int weight_bits,
                                            he::Precision precision = he::Precision::kExact);

// Security level (bits, classical) that the parameters meet: 128 when they lie inside the
// HomomorphicEncryption.org table for their ring dimension, else 0.
[[nodiscard]] int security_bits(const he::Parameters& parms);

}  // namespace veil::designs::he_lora
