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

at::Tensor secret_laplace(at::IntArrayRef sizes) {
  auto u = secret_uniform(sizes) - 0.5;
  return (-at::sign(u) * at::log1p(-2.0 * at::abs(u))).to(at::kFloat);
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

void encode_wire(std::map<std::string, at::Tensor>& tensors, const std::string& name, const at::Tensor& x, int bits) {
  if (bits <= 0) {
    tensors[name] = x.detach().to(at::kFloat).contiguous();
    return;
  }
  auto q = quantize_rows(x.detach(), bits);
  tensors["q"] = q.q.contiguous();
  tensors["scale"] = q.scale.contiguous();
}

at::Tensor decode_wire(const std::map<std::string, at::Tensor>& tensors, const std::string& name) {
  if (auto it = tensors.find(name); it != tensors.end()) {
    if (it->second.scalar_type() != at::kFloat || !it->second.defined())
      throw transport::ProtocolError("tensor '" + name + "' must be f32");
    return it->second;
  }
  auto q = tensors.find("q"), s = tensors.find("scale");
  if (q == tensors.end() || s == tensors.end())
    throw transport::ProtocolError("message has neither '" + name + "' nor quantized 'q'+'scale'");
  const auto& qt = q->second;
  const auto& st = s->second;
  if ((qt.scalar_type() != at::kChar && qt.scalar_type() != at::kShort) || st.scalar_type() != at::kFloat ||
      st.dim() != qt.dim() || qt.dim() < 1 || st.size(-1) != 1)
    throw transport::ProtocolError("quantized tensor 'q' (int8/int16) and 'scale' (f32 [..., 1]) do not match");
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
