// connect(): the client endpoint to a party served over gRPC (src/transport/grpc/server.cpp).
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string_view>
#include <thread>

#include "transport/grpc/wire.h"
#include "transport/request_id.h"
#include "transport/stream/client.h"
#include "veil/transport/connect.h"
#include "veil/transport/serve.h"

namespace veil::transport {
namespace {

using Clock = std::chrono::system_clock;

constexpr const char* kCallMethod = "/veil.v1.Party/Call";  // proto/veil/v1/party.proto

std::shared_ptr<grpc::Channel> open_channel(const std::string& address, const ConnectOptions& options) {
  auto creds = wire::client_credentials(address, options.tls);
  grpc::ChannelArguments args;
  // Reconnect quickly after a worker restarts (gRPC's default backoff grows to two minutes).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  if (!options.tls_server_name.empty()) args.SetSslTargetNameOverride(options.tls_server_name);
  return grpc::CreateCustomChannel(address, creds, args);
}

Health health_over(grpc::Channel& channel, const std::string& address, std::chrono::milliseconds deadline) {
  auto stub = v1::Party::NewStub(std::shared_ptr<grpc::Channel>(&channel, [](grpc::Channel*) {}));
  grpc::ClientContext ctx;
  ctx.set_deadline(Clock::now() + deadline);
  v1::HealthReply reply;
  const grpc::Status status = stub->Health(&ctx, v1::HealthRequest{}, &reply);
  if (!status.ok()) {
    const ErrorCode code = wire::from_status(status.error_code());
    throw TransportError(code, address + ": health: " + to_string(code) + ": " + status.error_message());
  }
  Health h;
  h.serving = reply.status() == v1::HealthReply::SERVING;
  h.party = reply.party();
  h.ops.assign(reply.ops().begin(), reply.ops().end());
  h.stream_port = static_cast<int>(reply.stream_port() > 65535 ? 0 : reply.stream_port());
  return h;
}

bool stream_wanted(const ConnectOptions& options) {
  const char* wire = std::getenv("VEIL_WIRE");
  return options.stream && !options.compress && !(wire && std::string_view(wire) == "grpc");
}

class GrpcEndpoint final : public Endpoint {
 public:
  GrpcEndpoint(std::string address, const ConnectOptions& options)
      : address_(std::move(address)), options_(options), channel_(open_channel(address_, options_)),
        call_method_(kCallMethod, grpc::internal::RpcMethod::BIDI_STREAMING, channel_), id_prefix_(random_request_prefix()) {
    limits_.max_message_bytes = options_.max_message_bytes;
    stream_off_ = !stream_wanted(options_);
  }

  Message call(Message request) override {
    if (request.request_id.empty()) request.request_id = id_prefix_ + "-" + std::to_string(next_id_.fetch_add(1));
    if (auto s = stream_endpoint()) {
      try {
        Message reply = s->call(request);
        stream_worked_ = true;
        return reply;
      } catch (const TransportError& e) {
        if (e.code() != ErrorCode::kUnavailable) throw;
        // The stream is unreachable. One that worked before: the peer went away; if it (or a
        // replacement, on a new stream port) answers Health now, the call goes to its stream,
        // otherwise the error is this call's. One that never worked (a firewalled port, a listener
        // the certificates do not fit): say so once and go on over gRPC, this call included (the
        // same request id, so a request the peer did apply is not applied twice).
        bool worked = false;
        {
          std::lock_guard lock(stream_mu_);
          stream_.reset();
          worked = stream_worked_.exchange(false);
          next_probe_ = {};
          if (!worked) {
            std::fprintf(stderr, "veil: %s: the TLS stream is unusable (%s); calls go over gRPC\n", address_.c_str(),
                         e.what());
            stream_off_ = true;
          }
        }
        if (worked) {
          auto again = stream_endpoint();
          if (!again) throw;
          Message reply = again->call(request);
          stream_worked_ = true;
          return reply;
        }
      }
    }
    codec::EncodedMessage encoded;
    try {
      encoded = codec::encode(request, limits_);
    } catch (const codec::MessageTooLarge& e) {
      throw TransportError(ErrorCode::kResourceExhausted, address_ + ": " + request.op + ": " + e.what());
    } catch (const ProtocolError& e) {
      throw TransportError(ErrorCode::kInvalidArgument, address_ + ": " + request.op + ": " + e.what());
    }
    const auto deadline = Clock::now() + options_.deadline;
    auto backoff = std::chrono::milliseconds(100);
    for (int attempt = 0;; ++attempt) {
      grpc::ClientContext ctx;
      ctx.set_deadline(deadline);
      if (options_.compress) {
        ctx.set_compression_algorithm(GRPC_COMPRESS_GZIP);
        ctx.AddMetadata("veil-compress", "gzip");
      }
      // veil.v1.Party/Call with the frames as byte buffers (wire.h): the same bytes as the generated
      // stub's, without protobuf copies of the payload.
      std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>> stream(
          grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(channel_.get(), call_method_,
                                                                                              &ctx));
      if (wire::send(*stream, encoded)) stream->WritesDone();
      codec::MessageDecoder decoder(limits_);
      std::optional<Message> reply;
      std::string malformed;
      try {
        reply = wire::receive(*stream, decoder);
      } catch (const ProtocolError& e) {
        malformed = e.what();
        ctx.TryCancel();
      }
      const grpc::Status status = stream->Finish();
      if (!malformed.empty())
        throw TransportError(ErrorCode::kInvalidArgument, address_ + ": " + request.op + ": malformed reply: " + malformed);
      if (status.ok()) {
        if (!reply) throw TransportError(ErrorCode::kInternal, address_ + ": " + request.op + ": empty reply");
        std::lock_guard lock(mu_);
        stats_.calls += 1;
        stats_.bytes_sent += encoded.wire_bytes();
        stats_.bytes_received += decoder.wire_bytes();
        return std::move(*reply);
      }
      const ErrorCode code = wire::from_status(status.error_code());
      if (code == ErrorCode::kUnavailable && attempt < options_.retries && Clock::now() + backoff < deadline) {
        std::this_thread::sleep_for(backoff);  // same request id: the peer applies it once
        backoff *= 2;
        continue;
      }
      std::string what = address_ + ": " + request.op + ": " + to_string(code) + ": " + status.error_message();
      if (attempt > 0) what += " (after " + std::to_string(attempt + 1) + " attempts)";
      throw TransportError(code, what);
    }
  }

  TrafficStats stats() const override {
    TrafficStats t;
    {
      std::lock_guard lock(mu_);
      t = stats_;
    }
    std::lock_guard lock(stream_mu_);
    if (stream_) t += stream_->stats();
    return t;
  }
  std::string peer() const override { return address_; }

 private:
  // The peer's TLS stream, once its Health has offered one; null: gRPC. A peer that does not
  // answer Health yet is asked again on a later call (at most once a second).
  std::shared_ptr<Endpoint> stream_endpoint() {
    std::lock_guard lock(stream_mu_);
    if (stream_ || stream_off_) return stream_;
    if (Clock::now() < next_probe_) return nullptr;
    try {
      const Health h = health_over(*channel_, address_, std::min<std::chrono::milliseconds>(options_.deadline, std::chrono::seconds(10)));
      if (h.stream_port <= 0) {
        stream_off_ = true;
        return nullptr;
      }
      const HostPort hp = parse_address(address_);
      const std::string name = options_.tls_server_name.empty() ? hp.host : options_.tls_server_name;
      stream_ = stream::make_endpoint(address_, hp.host, h.stream_port, name, options_);
    } catch (const TransportError&) {
      next_probe_ = Clock::now() + std::chrono::seconds(1);
    }
    return stream_;
  }

  std::string address_;
  ConnectOptions options_;
  codec::CodecLimits limits_;
  std::shared_ptr<grpc::Channel> channel_;
  grpc::internal::RpcMethod call_method_;
  std::string id_prefix_;
  std::atomic<std::uint64_t> next_id_{1};
  mutable std::mutex mu_;
  TrafficStats stats_;
  mutable std::mutex stream_mu_;
  std::shared_ptr<Endpoint> stream_;
  bool stream_off_ = false;
  std::atomic<bool> stream_worked_{false};
  Clock::time_point next_probe_{};
};

}  // namespace

std::shared_ptr<Endpoint> connect(const std::string& address, const ConnectOptions& options) {
  return std::make_shared<GrpcEndpoint>(address, options);
}

Health check_health(const std::string& address, const ConnectOptions& options) {
  auto channel = open_channel(address, options);
  return health_over(*channel, address, options.deadline);
}

}  // namespace veil::transport
