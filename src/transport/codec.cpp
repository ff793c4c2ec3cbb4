#include "transport/codec.h"

#include <bit>
#include <cstring>
#include <set>

#include <ATen/ATen.h>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "veil/v1/party.pb.h"

static_assert(std::endian::native == std::endian::little, "the wire is little-endian; add byte swapping");

namespace veil::transport::codec {
namespace {

constexpr std::size_t kMaxRank = 16;
constexpr std::size_t kMaxNameBytes = 1024;
constexpr char kFlatMagic[4] = {'V', 'E', 'I', 'L'};

struct DTypeInfo {
  v1::DType wire;
  c10::ScalarType type;
  const char* name;
};
constexpr DTypeInfo kDTypes[] = {
    {v1::DTYPE_F32, c10::ScalarType::Float, "f32"},   {v1::DTYPE_F16, c10::ScalarType::Half, "f16"},
    {v1::DTYPE_BF16, c10::ScalarType::BFloat16, "bf16"}, {v1::DTYPE_F64, c10::ScalarType::Double, "f64"},
    {v1::DTYPE_I64, c10::ScalarType::Long, "i64"},    {v1::DTYPE_I32, c10::ScalarType::Int, "i32"},
    {v1::DTYPE_I16, c10::ScalarType::Short, "i16"},   {v1::DTYPE_I8, c10::ScalarType::Char, "i8"},
    {v1::DTYPE_U8, c10::ScalarType::Byte, "u8"},      {v1::DTYPE_BOOL, c10::ScalarType::Bool, "bool"},
};

const DTypeInfo* by_type(c10::ScalarType t) {
  for (const auto& d : kDTypes)
    if (d.type == t) return &d;
  return nullptr;
}
const DTypeInfo* by_wire(int w) {
  for (const auto& d : kDTypes)
    if (d.wire == w) return &d;
  return nullptr;
}

std::string printable(const std::string& s) {
  // Names come from the network: print at most 64 bytes, non-printables as '?'.
  std::string out = "'";
  for (std::size_t i = 0; i < s.size() && i < 64; ++i) out += (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
  if (s.size() > 64) out += "...";
  return out + "'";
}

void check_name(const std::string& what, const std::string& name) {
  if (name.size() > kMaxNameBytes) throw ProtocolError(what + " name longer than 1024 bytes");
}

}  // namespace

const char* dtype_name(c10::ScalarType type) {
  const auto* d = by_type(type);
  if (!d) throw ProtocolError(std::string("dtype ") + c10::toString(type) + " cannot be sent");
  return d->name;
}

EncodedMessage encode(const Message& m, const CodecLimits& limits) {
  EncodedMessage out;
  v1::Header h;
  h.set_version(kWireVersion);
  h.set_op(m.op);
  h.set_request_id(m.request_id);
  h.set_layer(m.layer);
  for (auto i : m.ints) h.add_ints(i);
  for (const auto& [name, tensor] : m.tensors) {
    if (!tensor.defined()) continue;
    if (tensor.layout() != c10::kStrided)
      throw ProtocolError("message '" + m.op + "': tensor '" + name + "' is not dense");
    const auto* d = by_type(tensor.scalar_type());
    if (!d)
      throw ProtocolError("message '" + m.op + "': tensor '" + name + "' has dtype " +
                          c10::toString(tensor.scalar_type()) + ", which the wire cannot carry");
    at::Tensor t = tensor.device().is_cpu() ? tensor.contiguous() : tensor.cpu().contiguous();
    auto* wt = h.add_tensors();
    wt->set_name(name);
    wt->set_dtype(d->wire);
    for (auto s : t.sizes()) wt->add_shape(s);
    const std::size_t n = t.numel() * t.element_size();
    if (n > 0) out.segments.emplace_back(static_cast<const char*>(t.data_ptr()), n);
    out.payload_bytes += n;
    out.keep.push_back(std::move(t));
  }
  for (const auto& [name, blob] : m.blobs) {
    auto* wb = h.add_blobs();
    wb->set_name(name);
    wb->set_size(blob.size());
    if (!blob.empty()) out.segments.emplace_back(blob);
    out.payload_bytes += blob.size();
  }
  for (const auto& [k, v] : m.meta) {
    auto* e = h.add_meta();
    e->set_key(k);
    e->set_value(v);
  }
  h.set_payload_bytes(out.payload_bytes);
  if (out.payload_bytes > limits.max_message_bytes)
    throw MessageTooLarge("message '" + m.op + "' carries " + std::to_string(out.payload_bytes) +
                          " bytes, over the limit of " + std::to_string(limits.max_message_bytes));
  if (h.ByteSizeLong() > limits.max_header_bytes)
    throw MessageTooLarge("message '" + m.op + "' has a header of " + std::to_string(h.ByteSizeLong()) +
                          " bytes, over the limit of " + std::to_string(limits.max_header_bytes));
  // Deterministic: the same message always encodes to the same bytes (audit files compare).
  out.header.reserve(h.ByteSizeLong());
  {
    google::protobuf::io::StringOutputStream sos(&out.header);
    google::protobuf::io::CodedOutputStream cos(&sos);
    cos.SetSerializationDeterministic(true);
    h.SerializeToCodedStream(&cos);
  }
  return out;
}

MessageDecoder::MessageDecoder(CodecLimits limits) : limits_(limits) {}

void MessageDecoder::header(std::string_view serialized) {
  if (has_header_) throw ProtocolError("a second header in one message");
  if (serialized.size() > limits_.max_header_bytes)
    throw MessageTooLarge("header of " + std::to_string(serialized.size()) + " bytes, over the limit of " +
                          std::to_string(limits_.max_header_bytes));
  v1::Header h;
  if (!h.ParseFromArray(serialized.data(), static_cast<int>(serialized.size())))
    throw ProtocolError("header is not a veil.v1.Header");
  if (h.version() != kWireVersion)
    throw ProtocolError("wire version " + std::to_string(h.version()) + ", this build speaks version 1");
  if (h.op().empty()) throw ProtocolError("header has no op");
  if (h.op().size() > 256 || h.request_id().size() > 256) throw ProtocolError("op or request id longer than 256 bytes");
  const std::string op = printable(h.op());
  if (static_cast<std::size_t>(h.tensors_size()) + h.blobs_size() + h.meta_size() > limits_.max_entries)
    throw MessageTooLarge("message " + op + " has more than " + std::to_string(limits_.max_entries) + " entries");

  // Validate every size before allocating anything.
  const std::size_t cap = limits_.max_message_bytes;
  std::size_t total = 0;
  auto add = [&](std::size_t n, const std::string& what) {
    if (n > cap - total)
      throw MessageTooLarge("message " + op + ": " + what + " takes the payload over the limit of " + std::to_string(cap) +
                            " bytes");
    total += n;
  };
  std::set<std::string> names;
  for (const auto& t : h.tensors()) {
    check_name("tensor", t.name());
    const std::string what = "tensor " + printable(t.name());
    if (!names.insert(t.name()).second) throw ProtocolError("message " + op + ": " + what + " appears twice");
    const auto* d = by_wire(t.dtype());
    if (!d) throw ProtocolError("message " + op + ": " + what + " has unknown dtype " + std::to_string(t.dtype()));
    if (!t.data().empty()) throw ProtocolError("message " + op + ": " + what + " carries inline data in a header");
    if (static_cast<std::size_t>(t.shape_size()) > kMaxRank)
      throw ProtocolError("message " + op + ": " + what + " has rank " + std::to_string(t.shape_size()) + " (at most 16)");
    std::size_t bytes = c10::elementSize(d->type);
    bool empty = false;
    for (auto s : t.shape()) {
      if (s < 0) throw ProtocolError("message " + op + ": " + what + " has a negative dimension");
      if (static_cast<std::uint64_t>(s) > cap) throw MessageTooLarge("message " + op + ": " + what + " has a dimension over the limit");
      if (s == 0) empty = true;
    }
    if (empty) {
      bytes = 0;
    } else {
      for (auto s : t.shape()) {
        if (bytes > cap / static_cast<std::size_t>(s))
          throw MessageTooLarge("message " + op + ": " + what + " is over the limit of " + std::to_string(cap) + " bytes");
        bytes *= static_cast<std::size_t>(s);
      }
    }
    add(bytes, what);
  }
  names.clear();
  for (const auto& b : h.blobs()) {
    check_name("blob", b.name());
    const std::string what = "blob " + printable(b.name());
    if (!names.insert(b.name()).second) throw ProtocolError("message " + op + ": " + what + " appears twice");
    if (b.size() > cap) throw MessageTooLarge("message " + op + ": " + what + " is over the limit");
    add(b.size(), what);
  }
  if (h.payload_bytes() != total)
    throw ProtocolError("message " + op + " declares " + std::to_string(h.payload_bytes()) + " payload bytes, its tensors and blobs take " +
                        std::to_string(total));
  names.clear();
  for (const auto& e : h.meta())
    if (!names.insert(e.key()).second) throw ProtocolError("message " + op + ": meta key " + printable(e.key()) + " appears twice");

  message_.op = h.op();
  message_.request_id = h.request_id();
  message_.layer = h.layer();
  message_.ints.assign(h.ints().begin(), h.ints().end());
  for (const auto& e : h.meta()) message_.meta[e.key()] = e.value();
  for (const auto& t : h.tensors()) {
    std::vector<int64_t> shape(t.shape().begin(), t.shape().end());
    at::Tensor x = at::empty(shape, at::TensorOptions().dtype(by_wire(t.dtype())->type));
    const std::size_t n = x.numel() * x.element_size();
    if (n > 0) targets_.push_back({static_cast<char*>(x.data_ptr()), n});
    message_.tensors.emplace(t.name(), std::move(x));
  }
  for (const auto& b : h.blobs()) {
    auto& s = message_.blobs[b.name()];
    s.resize(b.size());
    if (b.size() > 0) targets_.push_back({s.data(), s.size()});
  }
  expected_ = total;
  header_bytes_ = serialized.size();
  has_header_ = true;
}

void MessageDecoder::chunk(std::string_view bytes) {
  if (!has_header_) throw ProtocolError("payload before the header");
  if (bytes.size() > expected_ - received_)
    throw ProtocolError("message " + printable(message_.op) + ": payload runs past the declared " + std::to_string(expected_) + " bytes");
  while (!bytes.empty()) {
    Target& t = targets_[target_];
    const std::size_t n = std::min(bytes.size(), t.size - offset_);
    std::memcpy(t.data + offset_, bytes.data(), n);
    bytes.remove_prefix(n);
    offset_ += n;
    received_ += n;
    if (offset_ == t.size) {
      ++target_;
      offset_ = 0;
    }
  }
}

Message MessageDecoder::finish() {
  if (!has_header_) throw ProtocolError("message has no header");
  if (received_ != expected_)
    throw ProtocolError("message " + printable(message_.op) + " ends after " + std::to_string(received_) + " of " +
                        std::to_string(expected_) + " payload bytes");
  for (const auto& [name, t] : message_.tensors) {
    if (t.scalar_type() != c10::ScalarType::Bool || t.numel() == 0) continue;
    const auto* p = static_cast<const std::uint8_t*>(t.data_ptr());
    for (std::int64_t i = 0; i < t.numel(); ++i)
      if (p[i] > 1) throw ProtocolError("message " + printable(message_.op) + ": bool tensor " + printable(name) + " holds a byte other than 0 or 1");
  }
  has_header_ = false;
  targets_.clear();
  return std::move(message_);
}

std::string to_flat(const EncodedMessage& e) {
  std::string out;
  out.reserve(8 + e.wire_bytes());
  out.append(kFlatMagic, 4);
  const auto n = static_cast<std::uint32_t>(e.header.size());
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out += e.header;
  for (auto s : e.segments) out.append(s);
  return out;
}

std::string encode_flat(const Message& message, const CodecLimits& limits) { return to_flat(encode(message, limits)); }

Message decode_flat(std::string_view bytes, const CodecLimits& limits) {
  if (bytes.size() < 8 || std::memcmp(bytes.data(), kFlatMagic, 4) != 0) throw ProtocolError("not a Veil message (no VEIL magic)");
  std::uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[4 + i])) << (8 * i);
  bytes.remove_prefix(8);
  if (n > bytes.size()) throw ProtocolError("message header runs past the end (" + std::to_string(n) + " bytes declared)");
  MessageDecoder d(limits);
  d.header(bytes.substr(0, n));
  d.chunk(bytes.substr(n));
  return d.finish();
}

}  // namespace veil::transport::codec
