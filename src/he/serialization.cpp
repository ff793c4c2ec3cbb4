#include "veil/he/serialization.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "he/context_data.h"
#include "veil/util/check.h"

namespace veil::he {
namespace {

static_assert(std::endian::native == std::endian::little, "the wire format is written for little-endian hosts");

// Fixed header layout; fields are little-endian.
struct BlobHeader {
  uint8_t magic[4];
  uint16_t version;
  uint16_t header_size;
  uint32_t kind;
  uint32_t flags;
  uint64_t parms_hash;
  uint64_t payload_size;
};
static_assert(sizeof(BlobHeader) == kHeaderSize && offsetof(BlobHeader, parms_hash) == 16 &&
                  offsetof(BlobHeader, payload_size) == 24,
              "wire header layout changed");
constexpr uint8_t kMagic[4] = {'V', 'L', 'H', 'E'};

class Writer {
 public:
  explicit Writer(BlobKind kind, uint64_t hash) {
    BlobHeader h{};
    std::memcpy(h.magic, kMagic, 4);
    h.version = kWireVersion;
    h.header_size = kHeaderSize;
    h.kind = static_cast<uint32_t>(kind);
    h.parms_hash = hash;
    out_.resize(kHeaderSize);
    std::memcpy(out_.data(), &h, kHeaderSize);
  }
  template <typename T>
  void put(T v) {
    const size_t o = out_.size();
    out_.resize(o + sizeof(T));
    std::memcpy(out_.data() + o, &v, sizeof(T));
  }
  void put_bytes(const uint8_t* p, size_t n) { out_.insert(out_.end(), p, p + n); }
  // Bit-packs values below 2^bits.
  void put_packed(const uint64_t* v, size_t count, int bits) {
    const size_t o = out_.size();
    out_.resize(o + (count * static_cast<size_t>(bits) + 7) / 8, 0);
    uint8_t* dst = out_.data() + o;
    unsigned __int128 acc = 0;
    int nbits = 0;
    size_t pos = 0;
    for (size_t i = 0; i < count; ++i) {
      acc |= (unsigned __int128)v[i] << nbits;
      nbits += bits;
      while (nbits >= 8) {
        dst[pos++] = static_cast<uint8_t>(acc);
        acc >>= 8;
        nbits -= 8;
      }
    }
    if (nbits > 0) dst[pos++] = static_cast<uint8_t>(acc);
  }
  std::vector<uint8_t> finish() {
    const uint64_t payload = out_.size() - kHeaderSize;
    std::memcpy(out_.data() + offsetof(BlobHeader, payload_size), &payload, 8);
    return std::move(out_);
  }

 private:
  std::vector<uint8_t> out_;
};

class Reader {
 public:
  Reader(std::span<const uint8_t> blob, BlobKind want) : blob_(blob), pos_(kHeaderSize) {
    header_ = parse_header(blob);
    VEIL_CHECK_ARG(header_.kind == static_cast<uint32_t>(want), "blob kind ", header_.kind, " where kind ",
                   static_cast<uint32_t>(want), " was expected");
  }
  static BlobHeader parse_header(std::span<const uint8_t> blob) {
    VEIL_CHECK_ARG(blob.size() >= kHeaderSize, "blob of ", blob.size(), " bytes is shorter than the ", kHeaderSize,
                   "-byte header");
    BlobHeader h;
    std::memcpy(&h, blob.data(), kHeaderSize);
    VEIL_CHECK_ARG(std::memcmp(h.magic, kMagic, 4) == 0, "bad magic at byte 0 (not a veil::he blob)");
    VEIL_CHECK_ARG(h.version == kWireVersion, "unsupported wire version ", h.version, " at byte 4 (expected ",
                   kWireVersion, ")");
    VEIL_CHECK_ARG(h.header_size == kHeaderSize, "header size ", h.header_size, " at byte 6 (expected ", kHeaderSize,
                   ")");
    VEIL_CHECK_ARG(h.kind >= 1 && h.kind <= 4, "unknown blob kind ", h.kind, " at byte 8");
    VEIL_CHECK_ARG(h.flags == 0, "unknown flags ", h.flags, " at byte 12");
    VEIL_CHECK_ARG(h.payload_size == blob.size() - kHeaderSize, "payload size field ", h.payload_size,
                   " at byte 24 does not match the ", blob.size() - kHeaderSize, " bytes present (truncated?)");
    return h;
  }
  const BlobHeader& header() const { return header_; }
  void expect_hash(uint64_t hash) const {
    VEIL_CHECK_ARG(header_.parms_hash == hash, "parameter hash ", header_.parms_hash,
                   " at byte 16 does not match these parameters (", hash, ")");
  }
  template <typename T>
  T get(const char* what) {
    VEIL_CHECK_ARG(blob_.size() - pos_ >= sizeof(T), "blob truncated reading ", what, " at byte ", pos_);
    T v;
    std::memcpy(&v, blob_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  void get_bytes(uint8_t* out, size_t n, const char* what) {
    VEIL_CHECK_ARG(blob_.size() - pos_ >= n, "blob truncated reading ", what, " at byte ", pos_);
    std::memcpy(out, blob_.data() + pos_, n);
    pos_ += n;
  }
  void get_packed(uint64_t* out, size_t count, int bits, const char* what) {
    const size_t bytes = (count * static_cast<size_t>(bits) + 7) / 8;
    VEIL_CHECK_ARG(blob_.size() - pos_ >= bytes, "blob truncated: ", what, " needs ", bytes, " bytes at byte ", pos_,
                   ", ", blob_.size() - pos_, " present");
    const uint8_t* src = blob_.data() + pos_;
    const uint64_t mask = bits >= 64 ? ~0ull : (uint64_t{1} << bits) - 1;
    unsigned __int128 acc = 0;
    int nbits = 0;
    size_t p = 0;
    for (size_t i = 0; i < count; ++i) {
      while (nbits < bits) {
        acc |= (unsigned __int128)src[p++] << nbits;
        nbits += 8;
      }
      out[i] = static_cast<uint64_t>(acc) & mask;
      acc >>= bits;
      nbits -= bits;
    }
    VEIL_CHECK_ARG(acc == 0, "non-zero padding bits after ", what, " at byte ", pos_ + bytes - 1);
    pos_ += bytes;
  }
  void finish() const {
    VEIL_CHECK_ARG(pos_ == blob_.size(), blob_.size() - pos_, " trailing bytes after the payload at byte ", pos_);
  }

 private:
  std::span<const uint8_t> blob_;
  size_t pos_;
  BlobHeader header_;
};

Layout parse_layout(uint8_t v) {
  VEIL_CHECK_ARG(v == 1 || v == 2, "unknown layout ", static_cast<int>(v), " in payload byte 0");
  return static_cast<Layout>(v);
}

void check_matrix_shape(uint32_t rows, uint32_t cols, uint32_t max_cols, const char* what) {
  VEIL_CHECK_ARG(rows >= 1 && rows <= (1u << 24), what, " row count ", rows, " outside [1, 2^24]");
  VEIL_CHECK_ARG(cols >= 1 && cols <= max_cols, what, " column count ", cols, " outside [1, ", max_cols, "]");
}

}  // namespace

BlobKind peek_kind(std::span<const uint8_t> blob) {
  return static_cast<BlobKind>(Reader::parse_header(blob).kind);
}

std::vector<uint8_t> save(const Parameters& p) {
  p.validate();
  Writer w(BlobKind::kParameters, p.hash());
  for (uint32_t v : {p.poly_degree, p.log_q, p.log_t, p.log_q_down, p.input_bits, p.weight_bits, p.max_inner_dim})
    w.put(v);
  w.put<uint8_t>(p.allow_insecure ? 1 : 0);
  w.put_bytes(p.crs_seed.data(), p.crs_seed.size());
  w.put(p.precision);
  w.put(p.weight_l1);
  w.put(p.input_l1);
  return w.finish();
}

Parameters load_parameters(std::span<const uint8_t> blob) {
  Reader r(blob, BlobKind::kParameters);
  Parameters p;
  p.poly_degree = r.get<uint32_t>("poly_degree");
  p.log_q = r.get<uint32_t>("log_q");
  p.log_t = r.get<uint32_t>("log_t");
  p.log_q_down = r.get<uint32_t>("log_q_down");
  p.input_bits = r.get<uint32_t>("input_bits");
  p.weight_bits = r.get<uint32_t>("weight_bits");
  p.max_inner_dim = r.get<uint32_t>("max_inner_dim");
  const uint8_t insecure = r.get<uint8_t>("allow_insecure");
  VEIL_CHECK_ARG(insecure <= 1, "allow_insecure byte ", static_cast<int>(insecure), " is not 0 or 1");
  p.allow_insecure = insecure == 1;
  r.get_bytes(p.crs_seed.data(), p.crs_seed.size(), "crs_seed");
  p.precision = r.get<uint32_t>("precision");
  p.weight_l1 = r.get<uint64_t>("weight_l1");
  p.input_l1 = r.get<uint32_t>("input_l1");
  r.finish();
  p.validate();
  r.expect_hash(p.hash());
  return p;
}

std::vector<uint8_t> save(const Context& ctx, const EncryptedMatrix& x) {
  const auto& d = ctx.data();
  VEIL_CHECK_ARG(x.parms_hash == d.hash, "ciphertext belongs to other parameters");
  VEIL_CHECK_ARG(x.coeffs.size() == size_t{x.rows} * x.cols, "ciphertext size does not match its shape");
  for (size_t i = 0; i < x.coeffs.size(); ++i)
    VEIL_CHECK_ARG(x.coeffs[i] <= d.q_mask, "ciphertext coefficient ", i, " is not below q");
  Writer w(BlobKind::kEncryptedMatrix, d.hash);
  w.put<uint8_t>(static_cast<uint8_t>(x.layout));
  w.put<uint8_t>(0);
  w.put<uint16_t>(0);
  w.put<uint32_t>(x.rows);
  w.put<uint32_t>(x.cols);
  w.put_packed(x.coeffs.data(), x.coeffs.size(), static_cast<int>(d.parms.log_q));
  return w.finish();
}

EncryptedMatrix load_encrypted_matrix(const Context& ctx, std::span<const uint8_t> blob) {
  const auto& d = ctx.data();
  Reader r(blob, BlobKind::kEncryptedMatrix);
  r.expect_hash(d.hash);
  EncryptedMatrix x;
  x.parms_hash = d.hash;
  x.layout = parse_layout(r.get<uint8_t>("layout"));
  VEIL_CHECK_ARG(r.get<uint8_t>("reserved") == 0 && r.get<uint16_t>("reserved") == 0, "reserved bytes not zero");
  x.rows = r.get<uint32_t>("rows");
  x.cols = r.get<uint32_t>("cols");
  check_matrix_shape(x.rows, x.cols, d.parms.max_inner_dim, "ciphertext");
  const size_t count = size_t{x.rows} * x.cols;
  VEIL_CHECK_ARG(count <= (size_t{1} << 31), "ciphertext of ", count, " coefficients is too large");
  const size_t need = (count * d.parms.log_q + 7) / 8;
  VEIL_CHECK_ARG(blob.size() == kHeaderSize + 12 + need, "ciphertext blob has ", blob.size(), " bytes, expected ",
                 kHeaderSize + 12 + need, " for ", x.rows, " x ", x.cols);
  x.coeffs.resize(count);
  r.get_packed(x.coeffs.data(), count, static_cast<int>(d.parms.log_q), "ciphertext coefficients");
  r.finish();
  return x;
}

std::vector<uint8_t> save(const Context& ctx, const EncryptedResult& x) {
  const auto& d = ctx.data();
  VEIL_CHECK_ARG(x.parms_hash == d.hash, "result belongs to other parameters");
  VEIL_CHECK_ARG(x.coeffs.size() == size_t{x.rows} * x.cols, "result size does not match its shape");
  const uint64_t down_mask = (uint64_t{1} << d.parms.log_q_down) - 1;
  for (size_t i = 0; i < x.coeffs.size(); ++i)
    VEIL_CHECK_ARG(x.coeffs[i] <= down_mask, "result coefficient ", i, " is not below q'");
  Writer w(BlobKind::kEncryptedResult, d.hash);
  w.put<uint8_t>(static_cast<uint8_t>(x.layout));
  w.put<uint8_t>(0);
  w.put<uint16_t>(0);
  w.put<uint32_t>(x.rows);
  w.put<uint32_t>(x.cols);
  w.put<uint64_t>(x.plan_id);
  w.put_packed(x.coeffs.data(), x.coeffs.size(), static_cast<int>(d.parms.log_q_down));
  return w.finish();
}

EncryptedResult load_encrypted_result(const Context& ctx, std::span<const uint8_t> blob) {
  const auto& d = ctx.data();
  Reader r(blob, BlobKind::kEncryptedResult);
  r.expect_hash(d.hash);
  EncryptedResult x;
  x.parms_hash = d.hash;
  x.layout = parse_layout(r.get<uint8_t>("layout"));
  VEIL_CHECK_ARG(r.get<uint8_t>("reserved") == 0 && r.get<uint16_t>("reserved") == 0, "reserved bytes not zero");
  x.rows = r.get<uint32_t>("rows");
  x.cols = r.get<uint32_t>("cols");
  x.plan_id = r.get<uint64_t>("plan_id");
  check_matrix_shape(x.rows, x.cols, 65535, "result");
  const size_t count = size_t{x.rows} * x.cols;
  VEIL_CHECK_ARG(count <= (size_t{1} << 31), "result of ", count, " coefficients is too large");
  const size_t need = (count * d.parms.log_q_down + 7) / 8;
  VEIL_CHECK_ARG(blob.size() == kHeaderSize + 20 + need, "result blob has ", blob.size(), " bytes, expected ",
                 kHeaderSize + 20 + need, " for ", x.rows, " x ", x.cols);
  x.coeffs.resize(count);
  r.get_packed(x.coeffs.data(), count, static_cast<int>(d.parms.log_q_down), "result coefficients");
  r.finish();
  return x;
}

std::vector<uint8_t> save(const Context& ctx, const PlanMask& m) {
  const auto& d = ctx.data();
  VEIL_CHECK_ARG(m.parms_hash == d.hash, "plan mask belongs to other parameters");
  VEIL_CHECK_ARG(m.poly_degree == d.n && m.mask.size() == size_t{m.cols} * d.n && m.col_sums.size() == m.cols,
                 "plan mask sizes are inconsistent");
  Writer w(BlobKind::kPlanMask, d.hash);
  w.put<uint8_t>(static_cast<uint8_t>(m.layout));
  w.put<uint8_t>(static_cast<uint8_t>(m.scale_kind));
  w.put<uint16_t>(0);
  w.put<uint32_t>(m.inner);
  w.put<uint32_t>(m.cols);
  w.put<uint32_t>(m.poly_degree);
  w.put<uint64_t>(m.plan_id);
  w.put<uint32_t>(static_cast<uint32_t>(m.scales.size()));
  for (int64_t v : m.col_sums) w.put(v);
  for (float v : m.scales) w.put(v);
  w.put_packed(m.mask.data(), m.mask.size(), static_cast<int>(d.parms.log_q));
  return w.finish();
}

PlanMask load_plan_mask(const Context& ctx, std::span<const uint8_t> blob) {
  const auto& d = ctx.data();
  Reader r(blob, BlobKind::kPlanMask);
  r.expect_hash(d.hash);
  PlanMask m;
  m.parms_hash = d.hash;
  m.layout = parse_layout(r.get<uint8_t>("layout"));
  const uint8_t sk = r.get<uint8_t>("scale_kind");
  VEIL_CHECK_ARG(sk <= 2, "unknown scale kind ", static_cast<int>(sk), " at payload byte 1");
  m.scale_kind = static_cast<PlanMask::ScaleKind>(sk);
  VEIL_CHECK_ARG(r.get<uint16_t>("reserved") == 0, "reserved bytes not zero");
  m.inner = r.get<uint32_t>("inner");
  m.cols = r.get<uint32_t>("cols");
  m.poly_degree = r.get<uint32_t>("poly_degree");
  m.plan_id = r.get<uint64_t>("plan_id");
  const uint32_t nscales = r.get<uint32_t>("scale count");
  VEIL_CHECK_ARG(m.inner >= 1 && m.inner <= d.parms.max_inner_dim, "plan inner dimension ", m.inner, " outside [1, ",
                 d.parms.max_inner_dim, "]");
  VEIL_CHECK_ARG(m.cols >= 1 && m.cols <= 65535, "plan column count ", m.cols, " outside [1, 65535]");
  VEIL_CHECK_ARG(m.poly_degree == d.n, "plan ring dimension ", m.poly_degree, " is not N = ", d.n);
  const size_t expected_scales = m.scale_kind == PlanMask::ScaleKind::kNone
                                     ? 0
                                     : (m.scale_kind == PlanMask::ScaleKind::kPerOutput ? m.cols : m.inner);
  VEIL_CHECK_ARG(nscales == expected_scales, "plan has ", nscales, " scales, expected ", expected_scales);
  const size_t need = size_t{m.cols} * 8 + size_t{nscales} * 4 + (size_t{m.cols} * d.n * d.parms.log_q + 7) / 8;
  VEIL_CHECK_ARG(blob.size() == kHeaderSize + 28 + need, "plan mask blob has ", blob.size(), " bytes, expected ",
                 kHeaderSize + 28 + need);
  const int64_t wmax = (int64_t{1} << (d.parms.weight_bits - 1)) - 1;
  m.col_sums.resize(m.cols);
  for (auto& v : m.col_sums) {
    v = r.get<int64_t>("column sum");
    VEIL_CHECK_ARG(v >= -wmax * m.inner && v <= wmax * m.inner, "column sum ", v, " exceeds the weight bound");
  }
  m.scales.resize(nscales);
  for (auto& v : m.scales) {
    v = r.get<float>("scale");
    VEIL_CHECK_ARG(std::isfinite(v) && v >= 0.0f, "scale ", v, " is not a finite non-negative number");
  }
  m.mask.resize(size_t{m.cols} * d.n);
  r.get_packed(m.mask.data(), m.mask.size(), static_cast<int>(d.parms.log_q), "plan mask");
  r.finish();
  return m;
}

}  // namespace veil::he
