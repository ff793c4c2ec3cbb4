// The privacy enhancements of `split` on what crosses the wire, and the secret randomness they use.
// All randomness is drawn from OpenSSL's RAND_bytes directly (uniforms from 32-bit words), never
// from a seeded generator: the server cannot replay it.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include <ATen/core/Tensor.h>

namespace veil::designs::guarded {

// Uniform (0, 1) floats from OpenSSL randomness, shape `sizes`.
[[nodiscard]] at::Tensor secret_uniform(at::IntArrayRef sizes);
// Standard normal values (Box–Muller on secret uniforms), for the mixing matrix. The DP noise of
// the noise option is sampled exactly on a grid instead (dp_noise.h).
[[nodiscard]] at::Tensor secret_normal(at::IntArrayRef sizes);
// A Haar-random orthogonal matrix [n, n] (QR of a secret Gaussian matrix, signs fixed by R's
// diagonal), in float64 for exact inversion.
[[nodiscard]] at::Tensor secret_orthogonal(std::int64_t n);

// Each row (last dimension) scaled down to L2 norm <= c.
[[nodiscard]] at::Tensor clip_rows(const at::Tensor& x, double c);

// Per-row symmetric uniform quantization: q = round(x / s), s = max|row| / (2^(bits-1) - 1).
// q is int8 for bits <= 8, int16 otherwise; scale is f32 [..., 1].
struct Quantized {
  at::Tensor q, scale;
};
[[nodiscard]] Quantized quantize_rows(const at::Tensor& x, int bits);
[[nodiscard]] at::Tensor dequantize_rows(const Quantized& q);

// Two values of at most 4 bits per byte: q in [-7, 7] ([..., n] int8) becomes (q + 8) in nibbles,
// element 2i in the low and 2i+1 in the high nibble of byte i ([..., ceil(n/2)] uint8; an odd last
// element is paired with a zero nibble). unpack_nibbles(p, n) reverses it; it throws
// transport::ProtocolError when p cannot hold n values or holds a zero (unused) nibble code.
[[nodiscard]] at::Tensor pack_nibbles(const at::Tensor& q);
[[nodiscard]] at::Tensor unpack_nibbles(const at::Tensor& packed, std::int64_t n);

// Writes `x` into `tensors` under `name` (f32), or, when bits > 0, as "q" (int8 for 5..8 bits,
// int16 above) or "q4" (2..4 bits, two values per byte, pack_nibbles) plus "scale" (one tensor per
// message is encoded this way). decode_wire reverses it; `dim` is the last dimension the caller
// expects (checked, and needed to unpack "q4").
void encode_wire(std::map<std::string, at::Tensor>& tensors, const std::string& name, const at::Tensor& x, int bits);
[[nodiscard]] at::Tensor decode_wire(const std::map<std::string, at::Tensor>& tensors, const std::string& name,
                                     std::int64_t dim);

// Distance correlation (Székely et al.) between the rows of x [n, p] and z [n, q], differentiable;
// NoPeek's leakage measure. In [0, 1]; 0 iff independent (in the population limit).
[[nodiscard]] at::Tensor distance_correlation(const at::Tensor& x, const at::Tensor& z);

}  // namespace veil::designs::guarded
