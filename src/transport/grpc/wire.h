// What the gRPC client and server share: credentials from TLS files, status mapping, and moving
// one Message over a stream as a Header frame plus payload chunks. Internal to the transport.
#pragma once

#include <optional>
#include <string>

#include <grpcpp/grpcpp.h>

#include "transport/codec.h"
#include "veil/transport/connect.h"
#include "veil/v1/party.grpc.pb.h"

namespace veil::transport::wire {

// Credentials for `address` (client) or for listening on it (server). Validate the PEM files with
// OpenSSL first (a certificate, a key that matches it, a CA) and enforce the loopback rule for
// insecure mode, printing the warning. Throw std::invalid_argument naming the file or the problem.
[[nodiscard]] std::shared_ptr<grpc::ChannelCredentials> client_credentials(const std::string& address, const TlsConfig& tls);
[[nodiscard]] std::shared_ptr<grpc::ServerCredentials> server_credentials(const std::string& address, const TlsConfig& tls);

[[nodiscard]] ErrorCode from_status(grpc::StatusCode code);
[[nodiscard]] grpc::StatusCode to_status(ErrorCode code);

// Writes the header frame and the payload in chunks of at most codec::kChunkBytes. False when the
// stream broke (the peer's status then says why).
template <class Writer>
bool send(Writer& stream, const codec::EncodedMessage& message) {
  v1::Frame frame;
  if (!frame.mutable_header()->ParseFromString(message.header)) return false;
  if (!stream.Write(frame)) return false;
  std::string* chunk = frame.mutable_chunk();
  chunk->reserve(codec::kChunkBytes);
  for (std::string_view seg : message.segments) {
    while (!seg.empty()) {
      const std::size_t n = std::min(seg.size(), codec::kChunkBytes - chunk->size());
      chunk->append(seg.data(), n);
      seg.remove_prefix(n);
      if (chunk->size() == codec::kChunkBytes) {
        if (!stream.Write(frame)) return false;
        chunk->clear();
      }
    }
  }
  return chunk->empty() || stream.Write(frame);
}

// Reads frames until the peer half-closes. Returns the message, or nullopt when no frame came
// (the peer answered with an error status). Throws ProtocolError / MessageTooLarge for frames out
// of order, an oversized chunk, or an invalid or incomplete message.
template <class Reader>
std::optional<Message> receive(Reader& stream, codec::MessageDecoder& decoder) {
  v1::Frame frame;
  bool any = false;
  while (stream.Read(&frame)) {
    any = true;
    switch (frame.kind_case()) {
      case v1::Frame::kHeader:
        decoder.header(frame.header().SerializeAsString());
        break;
      case v1::Frame::kChunk:
        if (frame.chunk().size() > codec::kChunkBytes) throw ProtocolError("a payload chunk over 1 MiB");
        decoder.chunk(frame.chunk());
        break;
      default:
        throw ProtocolError("an empty frame");
    }
  }
  if (!any) return std::nullopt;
  return decoder.finish();
}

}  // namespace veil::transport::wire
