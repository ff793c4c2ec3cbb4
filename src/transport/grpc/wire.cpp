#include "transport/grpc/wire.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>

#include "transport/tls_files.h"
#include "veil/transport/serve.h"

namespace veil::transport {

namespace wire {

std::shared_ptr<grpc::ChannelCredentials> client_credentials(const std::string& address, const TlsConfig& tls) {
  if (tls.insecure) {
    tls_files::check_insecure(address, "connection");
    return grpc::InsecureChannelCredentials();
  }
  (void)parse_address(address);
  const tls_files::Pems p = tls_files::load(tls, false);
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = p.ca;
  o.pem_private_key = p.key;
  o.pem_cert_chain = p.cert;
  return grpc::SslCredentials(o);
}

std::shared_ptr<grpc::ServerCredentials> server_credentials(const std::string& address, const TlsConfig& tls) {
  if (tls.insecure) {
    tls_files::check_insecure(address, "server");
    return grpc::InsecureServerCredentials();
  }
  (void)parse_address(address);
  const tls_files::Pems p = tls_files::load(tls, true);
  grpc::SslServerCredentialsOptions o(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  o.pem_root_certs = p.ca;
  o.pem_key_cert_pairs.push_back({p.key, p.cert});
  return grpc::SslServerCredentials(o);
}

namespace {

constexpr std::uint8_t kHeaderTag = (1 << 3) | 2;  // veil.v1.Frame field 1 (header), length-delimited
constexpr std::uint8_t kChunkTag = (2 << 3) | 2;   // field 2 (chunk), length-delimited

// A field's tag and its length as a protobuf varint.
grpc::Slice tag_and_length(std::uint8_t tag, std::size_t n) {
  char buf[11];
  std::size_t k = 0;
  buf[k++] = static_cast<char>(tag);
  do {
    std::uint8_t b = n & 0x7f;
    n >>= 7;
    if (n != 0) b |= 0x80;
    buf[k++] = static_cast<char>(b);
  } while (n != 0);
  return grpc::Slice(buf, k);
}

void release_tensor(void* tensor) { delete static_cast<at::Tensor*>(tensor); }

}  // namespace

std::vector<grpc::ByteBuffer> frames(const codec::EncodedMessage& m) {
  std::vector<grpc::ByteBuffer> out;
  {
    const grpc::Slice header[] = {tag_and_length(kHeaderTag, m.header.size()), grpc::Slice(m.header)};
    out.emplace_back(header, 2);
  }
  std::vector<grpc::Slice> pieces(1);  // pieces[0]: the tag and length, filled in by flush()
  std::size_t filled = 0;
  const auto flush = [&] {
    pieces[0] = tag_and_length(kChunkTag, filled);
    out.emplace_back(pieces.data(), pieces.size());
    pieces.resize(1);
    filled = 0;
  };
  const bool owners_known = m.segment_tensor.size() == m.segments.size();
  for (std::size_t i = 0; i < m.segments.size(); ++i) {
    std::string_view seg = m.segments[i];
    const int owner = owners_known ? m.segment_tensor[i] : -1;
    while (!seg.empty()) {
      const std::size_t n = std::min(seg.size(), codec::kChunkBytes - filled);
      if (owner >= 0)  // no copy: the slice keeps the tensor alive until gRPC releases it
        pieces.emplace_back(const_cast<char*>(seg.data()), n, &release_tensor, new at::Tensor(m.keep.at(owner)));
      else
        pieces.emplace_back(seg.data(), n);  // a blob: copied into the slice
      filled += n;
      seg.remove_prefix(n);
      if (filled == codec::kChunkBytes) flush();
    }
  }
  if (filled > 0) flush();
  return out;
}

void consume(const grpc::ByteBuffer& frame, codec::MessageDecoder& decoder) {
  std::vector<grpc::Slice> slices;
  if (frame.Valid() && !frame.Dump(&slices).ok()) throw ProtocolError("a frame that cannot be read");
  const std::size_t total = frame.Length();
  // The fast path: a chunk tag and a varint length that covers exactly the rest of the frame,
  // which is what protobuf would parse as a Frame holding that chunk.
  std::size_t si = 0, off = 0, used = 0;
  const auto next_byte = [&](std::uint8_t& b) {
    while (si < slices.size() && off == slices[si].size()) ++si, off = 0;
    if (si == slices.size()) return false;
    b = slices[si].begin()[off++];
    ++used;
    return true;
  };
  std::uint8_t b = 0;
  if (next_byte(b) && b == kChunkTag) {
    std::uint64_t len = 0;
    bool ended = false;
    for (int shift = 0; shift < 64 && next_byte(b); shift += 7) {
      len |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        ended = true;
        break;
      }
    }
    if (ended && len == total - used) {
      if (len > codec::kChunkBytes) throw ProtocolError("a payload chunk over 1 MiB");
      for (; si < slices.size(); ++si, off = 0)
        if (slices[si].size() > off)
          decoder.chunk(std::string_view(reinterpret_cast<const char*>(slices[si].begin()) + off, slices[si].size() - off));
      return;
    }
  }
  std::string flat;
  flat.reserve(total);
  for (const auto& s : slices) flat.append(reinterpret_cast<const char*>(s.begin()), s.size());
  v1::Frame f;
  if (!f.ParseFromString(flat)) throw ProtocolError("a frame that is not a veil.v1.Frame");
  switch (f.kind_case()) {
    case v1::Frame::kHeader:
      decoder.header(f.header().SerializeAsString());
      break;
    case v1::Frame::kChunk:
      if (f.chunk().size() > codec::kChunkBytes) throw ProtocolError("a payload chunk over 1 MiB");
      decoder.chunk(f.chunk());
      break;
    default:
      throw ProtocolError("an empty frame");
  }
}

ErrorCode from_status(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::INVALID_ARGUMENT: return ErrorCode::kInvalidArgument;
    case grpc::StatusCode::UNAUTHENTICATED: return ErrorCode::kUnauthenticated;
    case grpc::StatusCode::PERMISSION_DENIED: return ErrorCode::kPermissionDenied;
    case grpc::StatusCode::UNAVAILABLE: return ErrorCode::kUnavailable;
    case grpc::StatusCode::DEADLINE_EXCEEDED: return ErrorCode::kDeadlineExceeded;
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return ErrorCode::kResourceExhausted;
    case grpc::StatusCode::FAILED_PRECONDITION: return ErrorCode::kFailedPrecondition;
    default: return ErrorCode::kInternal;
  }
}

grpc::StatusCode to_status(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return grpc::StatusCode::INVALID_ARGUMENT;
    case ErrorCode::kUnauthenticated: return grpc::StatusCode::UNAUTHENTICATED;
    case ErrorCode::kUnavailable: return grpc::StatusCode::UNAVAILABLE;
    case ErrorCode::kDeadlineExceeded: return grpc::StatusCode::DEADLINE_EXCEEDED;
    case ErrorCode::kResourceExhausted: return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case ErrorCode::kFailedPrecondition: return grpc::StatusCode::FAILED_PRECONDITION;
    case ErrorCode::kInternal: return grpc::StatusCode::INTERNAL;
    case ErrorCode::kPermissionDenied: return grpc::StatusCode::PERMISSION_DENIED;
  }
  return grpc::StatusCode::INTERNAL;
}

}  // namespace wire
}  // namespace veil::transport
