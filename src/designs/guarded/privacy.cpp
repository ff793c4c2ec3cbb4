#include "designs/guarded/privacy.h"

#include <cmath>
#include <numbers>
#include <vector>

#include <ATen/ATen.h>
#include <openssl/rand.h>

#include "veil/transport/message.h"
#include "veil/util/check.h"

namespace veil::designs::guarded {

at::Tensor secret_uniform(at::IntArrayRef sizes) {
  auto words = at::empty(sizes, at::kInt);
  const auto n = words.numel();
  auto* p = reinterpret_cast<unsigned char*>(words.data_ptr<std::int32_t>());
  for (std::int64_t done = 0; done < n;) {  // RAND_bytes takes an int length: chunks of 2^24 words
    const auto chunk = std::min<std::int64_t>(n - done, 1 << 24);
    VEIL_CHECK_IO(RAND_bytes(p + done * 4, static_cast<int>(chunk * 4)) == 1, "OpenSSL RAND_bytes failed");
    done += chunk;
  }
  // (u + 0.5) / 2^32 in (0, 1): never 0 or 1, so logs stay finite.
  return (words.to(at::kDouble) + 2147483648.5) / 4294967296.0;
}

at::Tensor secret_normal(at::IntArrayRef sizes) {
  auto u1 = secret_uniform(sizes), u2 = secret_uniform(sizes);
  return (at::sqrt(-2.0 * at::log(u1)) * at::cos(2.0 * std::numbers::pi * u2)).to(at::kFloat);
}

at::Tensor secret_orthogonal(std::int64_t n) {
  VEIL_CHECK_ARG(n >= 1, "orthogonal matrix of size ", n);
  auto g = secret_normal({n, n}).to(at::kDouble);
  auto [q, r] = at::linalg_qr(g);
  auto d = at::sign(at::diagonal(r));
  d = at::where(d == 0, at::ones_like(d), d);
  return q * d.unsqueeze(0);
}

at::Tensor clip_rows(const at::Tensor& x, double c) {
  auto norm = x.norm(2, {-1}, true).clamp_min(1e-12);
  return x * (c / norm).clamp_max(1.0);
}

Quantized quantize_rows(const at::Tensor& x, int bits) {
  VEIL_CHECK_ARG(bits >= 2 && bits <= 16, "quant_bits must be in 2..16 (got ", bits, ")");
  const double levels = std::pow(2.0, bits - 1) - 1;
  auto xf = x.to(at::kFloat);
  auto scale = (xf.abs().amax({-1}, true) / levels).clamp_min(1e-30);
  auto q = at::round(xf / scale).clamp(-levels, levels);
  return {q.to(bits <= 8 ? at::kChar : at::kShort), scale};
}

at::Tensor dequantize_rows(const Quantized& q) { return q.q.to(at::kFloat) * q.scale; }

at::Tensor pack_nibbles(const at::Tensor& q) {
  VEIL_CHECK_ARG(q.dim() >= 1 && q.scalar_type() == at::kChar, "pack_nibbles needs int8 values");
  VEIL_CHECK_ARG(q.numel() == 0 || q.abs().max().item<int>() <= 7, "pack_nibbles: values must be in [-7, 7]");
  auto u = (q.to(at::kShort) + 8);  // 1..15; 0 marks the padding of an odd last element
  if (q.size(-1) % 2 != 0) {
    auto sizes = u.sizes().vec();
    sizes.back() = 1;
    u = at::cat({u, at::zeros(sizes, u.options())}, -1);
  }
  auto pairs = u.reshape({-1, u.size(-1) / 2, 2});
  auto bytes = pairs.select(-1, 0) + pairs.select(-1, 1) * 16;
  auto sizes = q.sizes().vec();
  sizes.back() = u.size(-1) / 2;
  return bytes.to(at::kByte).reshape(sizes).contiguous();
}

at::Tensor unpack_nibbles(const at::Tensor& packed, std::int64_t n) {
  if (packed.scalar_type() != at::kByte || packed.dim() < 1 || n < 1 || packed.size(-1) != (n + 1) / 2)
    throw transport::ProtocolError("'q4' must be uint8 [..., ceil(" + std::to_string(n) + "/2)]");
  auto b = packed.to(at::kShort);
  auto lo = b.bitwise_and(15), hi = b.div(16, "floor");
  auto u = at::stack({lo, hi}, -1).flatten(-2).narrow(-1, 0, n);
  if (u.numel() > 0 && u.min().item<int>() < 1) throw transport::ProtocolError("'q4' holds an unused nibble code 0");
  return (u - 8).to(at::kChar);
}

void encode_wire(std::map<std::string, at::Tensor>& tensors, const std::string& name, const at::Tensor& x, int bits) {
  if (bits <= 0) {
    tensors[name] = x.detach().to(at::kFloat).contiguous();
    return;
  }
  auto q = quantize_rows(x.detach(), bits);
  if (bits <= 4) tensors["q4"] = pack_nibbles(q.q);
  else tensors["q"] = q.q.contiguous();
  tensors["scale"] = q.scale.contiguous();
}

at::Tensor decode_wire(const std::map<std::string, at::Tensor>& tensors, const std::string& name, std::int64_t dim) {
  if (auto it = tensors.find(name); it != tensors.end()) {
    if (!it->second.defined() || it->second.scalar_type() != at::kFloat || it->second.dim() < 1 ||
        it->second.size(-1) != dim)
      throw transport::ProtocolError("tensor '" + name + "' must be f32 [..., " + std::to_string(dim) + "]");
    return it->second;
  }
  auto q = tensors.find("q"), q4 = tensors.find("q4"), s = tensors.find("scale");
  if ((q == tensors.end()) == (q4 == tensors.end()) || s == tensors.end())
    throw transport::ProtocolError("message has neither '" + name + "' nor quantized 'q' or 'q4' + 'scale'");
  const at::Tensor qt = q != tensors.end() ? q->second : unpack_nibbles(q4->second, dim);
  const auto& st = s->second;
  if ((qt.scalar_type() != at::kChar && qt.scalar_type() != at::kShort) || st.scalar_type() != at::kFloat ||
      st.dim() != qt.dim() || qt.dim() < 1 || st.size(-1) != 1 || qt.size(-1) != dim)
    throw transport::ProtocolError("quantized tensor 'q' (int8/int16 [..., " + std::to_string(dim) +
                                   "]) and 'scale' (f32 [..., 1]) do not match");
  for (int d = 0; d + 1 < qt.dim(); ++d)
    if (st.size(d) != qt.size(d)) throw transport::ProtocolError("'scale' does not match 'q'");
  return dequantize_rows({qt, st});
}

namespace {
at::Tensor centered_distances(const at::Tensor& x) {
  auto sq = (x.unsqueeze(0) - x.unsqueeze(1)).pow(2).sum(-1);
  auto d = at::sqrt(sq + 1e-12);  // smooth at 0 so the gradient exists on the diagonal
  return d - d.mean(0, true) - d.mean(1, true) + d.mean();
}
}  // namespace

at::Tensor distance_correlation(const at::Tensor& x, const at::Tensor& z) {
  VEIL_CHECK_ARG(x.dim() == 2 && z.dim() == 2 && x.size(0) == z.size(0), "distance_correlation needs [n, p], [n, q]");
  auto a = centered_distances(x.to(at::kFloat)), b = centered_distances(z.to(at::kFloat));
  auto dcov = (a * b).mean(), vx = (a * a).mean(), vz = (b * b).mean();
  return at::sqrt(dcov.clamp_min(0) / at::sqrt(vx * vz).clamp_min(1e-12) + 1e-12);
}

}  // namespace veil::designs::guarded
