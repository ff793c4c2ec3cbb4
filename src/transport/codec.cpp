#include "transport/codec.h"

#include <ATen/ATen.h>

namespace veil::transport::codec {
namespace {

struct DTypeInfo {
  DType wire;
  c10::ScalarType type;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::kF32, c10::ScalarType::Float}, {DType::kF16, c10::ScalarType::Half}, {DType::kBF16, c10::ScalarType::BFloat16},
    {DType::kF64, c10::ScalarType::Double}, {DType::kI64, c10::ScalarType::Long}, {DType::kI32, c10::ScalarType::Int},
    {DType::kI16, c10::ScalarType::Short}, {DType::kI8, c10::ScalarType::Char},  {DType::kU8, c10::ScalarType::Byte},
    {DType::kBool, c10::ScalarType::Bool},
};

const DTypeInfo* by_type(c10::ScalarType t) {
  for (const auto& d : kDTypes)
    if (d.type == t) return &d;
  return nullptr;
}
c10::ScalarType to_scalar_type(DType w) {
  for (const auto& d : kDTypes)
    if (d.wire == w) return d.type;
  throw ProtocolError("unknown dtype " + std::to_string(static_cast<int>(w)));
}

}  // namespace

const char* dtype_name(c10::ScalarType type) {
  const auto* d = by_type(type);
  if (!d) throw ProtocolError(std::string("dtype ") + c10::toString(type) + " cannot be sent");
  return codec::dtype_name(d->wire);
}

EncodedMessage encode(const Message& m, const CodecLimits& limits) {
  EncodedMessage out;
  WireHeader h;
  h.op = m.op;
  h.request_id = m.request_id;
  h.layer = m.layer;
  h.ints = m.ints;
  for (const auto& [name, tensor] : m.tensors) {
    if (!tensor.defined()) continue;
    if (tensor.layout() != c10::kStrided)
      throw ProtocolError("message '" + m.op + "': tensor '" + name + "' is not dense");
    const auto* d = by_type(tensor.scalar_type());
    if (!d)
      throw ProtocolError("message '" + m.op + "': tensor '" + name + "' has dtype " +
                          c10::toString(tensor.scalar_type()) + ", which the wire cannot carry");
    at::Tensor t = tensor.device().is_cpu() ? tensor.contiguous() : tensor.cpu().contiguous();
    const std::size_t n = t.numel() * t.element_size();
    h.tensors.push_back({name, d->wire, t.sizes().vec(), n});
    if (n > 0) {
      out.segments.emplace_back(static_cast<const char*>(t.data_ptr()), n);
      out.segment_tensor.push_back(static_cast<int>(out.keep.size()));
    }
    out.payload_bytes += n;
    out.keep.push_back(std::move(t));
  }
  for (const auto& [name, blob] : m.blobs) {
    h.blobs.push_back({name, blob.size()});
    if (!blob.empty()) {
      out.segments.emplace_back(blob);
      out.segment_tensor.push_back(-1);
    }
    out.payload_bytes += blob.size();
  }
  h.meta.assign(m.meta.begin(), m.meta.end());
  h.payload_bytes = out.payload_bytes;
  out.header = serialize_header(h, limits);
  return out;
}

MessageDecoder::MessageDecoder(CodecLimits limits)
    : wire_(limits, [this](std::size_t, const TensorSpec& spec) -> char* {
        tensors_.push_back(at::empty(spec.shape, at::TensorOptions().dtype(to_scalar_type(spec.dtype))));
        return spec.bytes > 0 ? static_cast<char*>(tensors_.back().data_ptr()) : nullptr;
      }) {}

void MessageDecoder::header(std::string_view serialized) {
  if (!wire_.has_header()) tensors_.clear();
  (void)wire_.header(serialized);
}

Message MessageDecoder::finish() {
  WirePayload p = wire_.finish();
  Message m;
  m.op = std::move(p.header.op);
  m.request_id = std::move(p.header.request_id);
  m.layer = p.header.layer;
  m.ints = std::move(p.header.ints);
  for (auto& [k, v] : p.header.meta) m.meta.emplace(std::move(k), std::move(v));
  for (std::size_t i = 0; i < p.header.tensors.size(); ++i) m.tensors.emplace(p.header.tensors[i].name, std::move(tensors_[i]));
  for (std::size_t i = 0; i < p.header.blobs.size(); ++i) m.blobs.emplace(p.header.blobs[i].name, std::move(p.blob_data[i]));
  tensors_.clear();
  return m;
}

std::string to_flat(const EncodedMessage& e) { return join_flat(e.header, e.segments); }

std::string encode_flat(const Message& message, const CodecLimits& limits) { return to_flat(encode(message, limits)); }

Message decode_flat(std::string_view bytes, const CodecLimits& limits) {
  const FlatParts parts = split_flat(bytes);
  MessageDecoder d(limits);
  d.header(parts.header);
  d.chunk(parts.payload);
  return d.finish();
}

}  // namespace veil::transport::codec
