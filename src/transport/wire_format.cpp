#include "transport/wire_format.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <new>
#include <set>
#include <stdexcept>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/wire_format_lite.h>

#include "veil/v1/party.pb.h"

static_assert(std::endian::native == std::endian::little, "the wire is little-endian; add byte swapping");

namespace veil::transport::codec {
namespace {

constexpr std::size_t kMaxRank = 16;
constexpr std::size_t kMaxNameBytes = 1024;
constexpr std::size_t kMaxOpBytes = 256;
constexpr std::size_t kAlign = 64;
constexpr char kFlatMagic[4] = {'V', 'E', 'I', 'L'};

bool known(int wire) { return wire >= static_cast<int>(DType::kF32) && wire <= static_cast<int>(DType::kBool); }

void check_name(const std::string& what, const std::string& name) {
  if (name.size() > kMaxNameBytes) throw ProtocolError(what + " name longer than 1024 bytes");
}

[[noreturn]] void not_a_header() { throw ProtocolError("header is not a veil.v1.Header"); }

// Counts the tensors, blobs and meta entries of a serialized Header without parsing it, so that a
// header of many tiny entries is refused before protobuf builds an object for each.
std::size_t count_entries(std::string_view serialized) {
  using google::protobuf::internal::WireFormatLite;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const std::uint8_t*>(serialized.data()),
                                            static_cast<int>(serialized.size()));
  std::size_t n = 0;
  while (const std::uint32_t tag = in.ReadTag()) {
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    if (field == v1::Header::kTensorsFieldNumber || field == v1::Header::kBlobsFieldNumber ||
        field == v1::Header::kMetaFieldNumber)
      ++n;
    if (!WireFormatLite::SkipField(&in, tag)) not_a_header();
  }
  if (!in.ConsumedEntireMessage()) not_a_header();
  return n;
}

}  // namespace

std::size_t element_size(DType d) {
  switch (d) {
    case DType::kF64:
    case DType::kI64: return 8;
    case DType::kF32:
    case DType::kI32: return 4;
    case DType::kF16:
    case DType::kBF16:
    case DType::kI16: return 2;
    case DType::kI8:
    case DType::kU8:
    case DType::kBool: return 1;
  }
  throw ProtocolError("unknown dtype " + std::to_string(static_cast<int>(d)));
}

const char* dtype_name(DType d) {
  switch (d) {
    case DType::kF32: return "f32";
    case DType::kF16: return "f16";
    case DType::kBF16: return "bf16";
    case DType::kF64: return "f64";
    case DType::kI64: return "i64";
    case DType::kI32: return "i32";
    case DType::kI16: return "i16";
    case DType::kI8: return "i8";
    case DType::kU8: return "u8";
    case DType::kBool: return "bool";
  }
  throw ProtocolError("unknown dtype " + std::to_string(static_cast<int>(d)));
}

std::string printable(std::string_view s) {
  // Names come from the network: print at most 64 bytes, non-printables as '?'.
  std::string out = "'";
  for (std::size_t i = 0; i < s.size() && i < 64; ++i) out += (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
  if (s.size() > 64) out += "...";
  return out + "'";
}

WireHeader parse_header(std::string_view serialized, const CodecLimits& limits) {
  if (serialized.size() > limits.max_header_bytes)
    throw MessageTooLarge("header of " + std::to_string(serialized.size()) + " bytes, over the limit of " +
                          std::to_string(limits.max_header_bytes));
  const std::size_t entries = count_entries(serialized);
  v1::Header h;
  if (!h.ParseFromArray(serialized.data(), static_cast<int>(serialized.size()))) not_a_header();
  if (h.version() != kWireVersion)
    throw ProtocolError("wire version " + std::to_string(h.version()) + ", this build speaks version 1");
  if (h.op().empty()) throw ProtocolError("header has no op");
  if (h.op().size() > kMaxOpBytes || h.request_id().size() > kMaxOpBytes)
    throw ProtocolError("op or request id longer than 256 bytes");
  const std::string op = printable(h.op());
  if (entries > limits.max_entries)
    throw MessageTooLarge("message " + op + " has more than " + std::to_string(limits.max_entries) + " entries");

  // Validate every size before allocating anything.
  const std::size_t cap = limits.max_message_bytes;
  std::size_t total = 0;
  auto add = [&](std::size_t n, const std::string& what) {
    if (n > cap - total)
      throw MessageTooLarge("message " + op + ": " + what + " takes the payload over the limit of " + std::to_string(cap) +
                            " bytes");
    total += n;
  };
  WireHeader out;
  std::set<std::string> names;
  for (const auto& t : h.tensors()) {
    check_name("tensor", t.name());
    const std::string what = "tensor " + printable(t.name());
    if (!names.insert(t.name()).second) throw ProtocolError("message " + op + ": " + what + " appears twice");
    if (!known(t.dtype())) throw ProtocolError("message " + op + ": " + what + " has unknown dtype " + std::to_string(t.dtype()));
    if (!t.data().empty()) throw ProtocolError("message " + op + ": " + what + " carries inline data in a header");
    if (static_cast<std::size_t>(t.shape_size()) > kMaxRank)
      throw ProtocolError("message " + op + ": " + what + " has rank " + std::to_string(t.shape_size()) + " (at most 16)");
    TensorSpec spec;
    spec.name = t.name();
    spec.dtype = static_cast<DType>(t.dtype());
    spec.shape.assign(t.shape().begin(), t.shape().end());
    std::size_t bytes = element_size(spec.dtype);
    bool empty = false;
    for (auto s : spec.shape) {
      if (s < 0) throw ProtocolError("message " + op + ": " + what + " has a negative dimension");
      if (static_cast<std::uint64_t>(s) > cap) throw MessageTooLarge("message " + op + ": " + what + " has a dimension over the limit");
      if (s == 0) empty = true;
    }
    if (empty) {
      bytes = 0;
    } else {
      for (auto s : spec.shape) {
        if (bytes > cap / static_cast<std::size_t>(s))
          throw MessageTooLarge("message " + op + ": " + what + " is over the limit of " + std::to_string(cap) + " bytes");
        bytes *= static_cast<std::size_t>(s);
      }
    }
    add(bytes, what);
    spec.bytes = bytes;
    out.tensors.push_back(std::move(spec));
  }
  names.clear();
  for (const auto& b : h.blobs()) {
    check_name("blob", b.name());
    const std::string what = "blob " + printable(b.name());
    if (!names.insert(b.name()).second) throw ProtocolError("message " + op + ": " + what + " appears twice");
    if (b.size() > cap) throw MessageTooLarge("message " + op + ": " + what + " is over the limit");
    add(b.size(), what);
    out.blobs.push_back({b.name(), static_cast<std::size_t>(b.size())});
  }
  if (h.payload_bytes() != total)
    throw ProtocolError("message " + op + " declares " + std::to_string(h.payload_bytes()) + " payload bytes, its tensors and blobs take " +
                        std::to_string(total));
  names.clear();
  for (const auto& e : h.meta()) {
    if (!names.insert(e.key()).second) throw ProtocolError("message " + op + ": meta key " + printable(e.key()) + " appears twice");
    out.meta.emplace_back(e.key(), e.value());
  }
  out.op = h.op();
  out.request_id = h.request_id();
  out.layer = h.layer();
  out.ints.assign(h.ints().begin(), h.ints().end());
  out.payload_bytes = total;
  return out;
}

std::string serialize_header(const WireHeader& w, const CodecLimits& limits) {
  if (w.payload_bytes > limits.max_message_bytes)
    throw MessageTooLarge("message '" + w.op + "' carries " + std::to_string(w.payload_bytes) + " bytes, over the limit of " +
                          std::to_string(limits.max_message_bytes));
  v1::Header h;
  h.set_version(kWireVersion);
  h.set_op(w.op);
  h.set_request_id(w.request_id);
  h.set_layer(w.layer);
  for (auto i : w.ints) h.add_ints(i);
  for (const auto& t : w.tensors) {
    auto* wt = h.add_tensors();
    wt->set_name(t.name);
    wt->set_dtype(static_cast<v1::DType>(t.dtype));
    for (auto s : t.shape) wt->add_shape(s);
  }
  for (const auto& b : w.blobs) {
    auto* wb = h.add_blobs();
    wb->set_name(b.name);
    wb->set_size(b.size);
  }
  for (const auto& [k, v] : w.meta) {
    auto* e = h.add_meta();
    e->set_key(k);
    e->set_value(v);
  }
  h.set_payload_bytes(w.payload_bytes);
  const std::size_t size = h.ByteSizeLong();
  if (size > limits.max_header_bytes)
    throw MessageTooLarge("message '" + w.op + "' has a header of " + std::to_string(size) + " bytes, over the limit of " +
                          std::to_string(limits.max_header_bytes));
  // Deterministic: the same message always encodes to the same bytes (audit files compare).
  std::string out;
  out.reserve(size);
  {
    google::protobuf::io::StringOutputStream sos(&out);
    google::protobuf::io::CodedOutputStream cos(&sos);
    cos.SetSerializationDeterministic(true);
    h.SerializeToCodedStream(&cos);
  }
  return out;
}

WireDecoder::WireDecoder(CodecLimits limits, Allocate allocate) : limits_(limits), allocate_(std::move(allocate)) {}

const WireHeader& WireDecoder::header(std::string_view serialized) {
  if (has_header_) throw ProtocolError("a second header in one message");
  header_ = parse_header(serialized, limits_);
  if (admit_) admit_(header_.op);
  // Everything is validated: allocate. Blobs are reserved (committed as bytes arrive); the vector
  // of blobs is sized once so the targets' pointers stay valid.
  out_ = {};
  out_.blob_data.resize(header_.blobs.size());
  tensor_ptrs_.clear();
  targets_.clear();
  for (std::size_t i = 0; i < header_.tensors.size(); ++i) {
    const auto& spec = header_.tensors[i];
    char* p = nullptr;
    if (allocate_) {
      p = allocate_(i, spec);
    } else if (spec.bytes > 0) {
      auto* raw = static_cast<char*>(::operator new(spec.bytes, std::align_val_t{kAlign}));
      out_.tensor_data.emplace_back(raw, [](char* q) { ::operator delete(q, std::align_val_t{kAlign}); });
      p = raw;
    } else {
      out_.tensor_data.emplace_back();
    }
    if (spec.bytes > 0 && p == nullptr) throw std::logic_error("WireDecoder: the allocator returned no memory");
    tensor_ptrs_.push_back(p);
    if (spec.bytes > 0) targets_.push_back({p, nullptr, spec.bytes});
  }
  for (std::size_t i = 0; i < header_.blobs.size(); ++i) {
    const std::size_t n = header_.blobs[i].size;
    if (n == 0) continue;
    out_.blob_data[i].reserve(n);
    targets_.push_back({nullptr, &out_.blob_data[i], n});
  }
  target_ = offset_ = received_ = 0;
  header_bytes_ = serialized.size();
  has_header_ = true;
  return header_;
}

void WireDecoder::chunk(std::string_view bytes) {
  if (!has_header_) throw ProtocolError("payload before the header");
  if (bytes.size() > header_.payload_bytes - received_)
    throw ProtocolError("message " + printable(header_.op) + ": payload runs past the declared " +
                        std::to_string(header_.payload_bytes) + " bytes");
  while (!bytes.empty()) {
    const Target& t = targets_[target_];
    const std::size_t n = std::min(bytes.size(), t.size - offset_);
    if (t.blob)
      t.blob->append(bytes.data(), n);
    else
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

std::span<char> WireDecoder::next_span(std::size_t max) {
  if (!has_header_ || received_ == header_.payload_bytes) return {};
  const Target& t = targets_[target_];
  if (t.blob) return {};
  return {t.data + offset_, std::min(max, t.size - offset_)};
}

void WireDecoder::commit(std::size_t n) {
  if (n == 0) return;
  if (!has_header_ || received_ == header_.payload_bytes || targets_[target_].blob ||
      n > targets_[target_].size - offset_)
    throw std::logic_error("WireDecoder::commit: more bytes than next_span gave");
  offset_ += n;
  received_ += n;
  if (offset_ == targets_[target_].size) {
    ++target_;
    offset_ = 0;
  }
}

WirePayload WireDecoder::finish() {
  if (!has_header_) throw ProtocolError("message has no header");
  if (received_ != header_.payload_bytes)
    throw ProtocolError("message " + printable(header_.op) + " ends after " + std::to_string(received_) + " of " +
                        std::to_string(header_.payload_bytes) + " payload bytes");
  for (std::size_t i = 0; i < header_.tensors.size(); ++i) {
    const auto& spec = header_.tensors[i];
    if (spec.dtype != DType::kBool || spec.bytes == 0) continue;
    const auto* p = reinterpret_cast<const std::uint8_t*>(tensor_ptrs_[i]);
    if (std::any_of(p, p + spec.bytes, [](std::uint8_t b) { return b > 1; }))
      throw ProtocolError("message " + printable(header_.op) + ": bool tensor " + printable(spec.name) +
                          " holds a byte other than 0 or 1");
  }
  has_header_ = false;
  targets_.clear();
  tensor_ptrs_.clear();
  out_.header = std::move(header_);
  header_ = {};
  return std::move(out_);
}

FlatParts split_flat(std::string_view bytes) {
  if (bytes.size() < 8 || std::memcmp(bytes.data(), kFlatMagic, 4) != 0) throw ProtocolError("not a Veil message (no VEIL magic)");
  std::uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[4 + i])) << (8 * i);
  bytes.remove_prefix(8);
  if (n > bytes.size()) throw ProtocolError("message header runs past the end (" + std::to_string(n) + " bytes declared)");
  return {bytes.substr(0, n), bytes.substr(n)};
}

std::string join_flat(std::string_view header, const std::vector<std::string_view>& payload) {
  std::size_t total = 8 + header.size();
  for (auto s : payload) total += s.size();
  std::string out;
  out.reserve(total);
  out.append(kFlatMagic, 4);
  const auto n = static_cast<std::uint32_t>(header.size());
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out.append(header);
  for (auto s : payload) out.append(s);
  return out;
}

}  // namespace veil::transport::codec
