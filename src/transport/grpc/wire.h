// What the gRPC client and server share: credentials from TLS files, status mapping, and moving
// one Message over a stream as a Header frame plus payload chunks. Internal to the transport.
#pragma once

#include <optional>
#include <string>
#include <vector>

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

// Frames travel as gRPC byte buffers holding serialized veil.v1.Frame messages, not through
// protobuf objects: a chunk frame is its field tag and length followed by slices that point into
// the message's tensors (each slice holds a reference to its tensor until gRPC is done with it),
// so a payload byte is not copied on its way to gRPC's socket or TLS layer; the receiver copies a
// canonical chunk frame (what this sender and protobuf write) from gRPC's slices straight into the
// decoder. Anything else is parsed as a veil.v1.Frame, as the generated code would.

// The frames of one message: the header frame, then chunk frames of at most codec::kChunkBytes
// payload bytes. `message` must outlive the buffers only for its blobs (copied into the frames).
[[nodiscard]] std::vector<grpc::ByteBuffer> frames(const codec::EncodedMessage& message);

// Feeds one received frame to the decoder. Throws ProtocolError for a frame that is not a
// veil.v1.Frame, an empty frame, a chunk over 1 MiB, and what the decoder refuses.
void consume(const grpc::ByteBuffer& frame, codec::MessageDecoder& decoder);

// Writes the message's frames. False when the stream broke (the peer's status then says why).
template <class Writer>
bool send(Writer& stream, const codec::EncodedMessage& message) {
  for (const grpc::ByteBuffer& frame : frames(message))
    if (!stream.Write(frame)) return false;
  return true;
}

// Reads frames until the peer half-closes. Returns the message, or nullopt when no frame came
// (the peer answered with an error status). Throws ProtocolError / MessageTooLarge for frames out
// of order, an oversized chunk, or an invalid or incomplete message.
template <class Reader>
std::optional<Message> receive(Reader& stream, codec::MessageDecoder& decoder) {
  grpc::ByteBuffer frame;
  bool any = false;
  while (stream.Read(&frame)) {
    any = true;
    consume(frame, decoder);
    frame.Clear();
  }
  if (!any) return std::nullopt;
  return decoder.finish();
}

}  // namespace veil::transport::wire
