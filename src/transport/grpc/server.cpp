// Server: a Service behind the veil.v1.Party gRPC service (see veil/transport/serve.h).
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "transport/grpc/wire.h"
#include "transport/peer_cert.h"
#include "transport/stream/listener.h"
#include "veil/transport/serve.h"

namespace veil::transport {
namespace {

class PartyService final : public v1::Party::Service {
 public:
  PartyService(std::shared_ptr<transport::Service> service, const ServeOptions& options)
      : service_(std::move(service)), max_calls_(std::max(1, options.max_concurrent_calls)), insecure_(options.tls.insecure) {
    limits_.max_message_bytes = options.max_message_bytes;
    // Method 0 of veil.v1.Party is Call: serve it on byte buffers (wire.h: the same bytes, without
    // protobuf copies of the payload). The generated Call handler is replaced, so it never runs.
    MarkMethodStreamed(0, new grpc::internal::BidiStreamingHandler<PartyService, grpc::ByteBuffer, grpc::ByteBuffer>(
                              [](PartyService* self, grpc::ServerContext* ctx,
                                 grpc::ServerReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>* stream) {
                                return self->call(ctx, stream);
                              },
                              this));
  }

  grpc::Status call(grpc::ServerContext* ctx, grpc::ServerReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>* stream) {
    if (draining_) return {grpc::StatusCode::UNAVAILABLE, service_->party() + " is shutting down"};
    Slot slot(*this, ctx);
    if (!slot.held) {
      if (ctx->IsCancelled()) return {grpc::StatusCode::CANCELLED, "cancelled while waiting for a slot"};
      return {grpc::StatusCode::UNAVAILABLE, service_->party() + " is shutting down"};
    }
    const auto& md = ctx->client_metadata();
    if (auto it = md.find("veil-compress"); it != md.end() && it->second == "gzip")
      ctx->set_compression_algorithm(GRPC_COMPRESS_GZIP);

    // Who calls, from the TLS peer certificate; checked against the op's roles as soon as the
    // header has arrived, before any of the payload is read or allocated.
    const Peer peer = caller(*ctx);
    codec::MessageDecoder decoder(limits_);
    decoder.set_admit([&](const std::string& op) { service_->authorize(op, peer); });
    std::optional<Message> request;
    try {
      request = wire::receive(*stream, decoder);
    } catch (const TransportError& e) {
      return {wire::to_status(e.code()), e.what()};
    } catch (const codec::MessageTooLarge& e) {
      return {grpc::StatusCode::RESOURCE_EXHAUSTED, service_->party() + ": " + e.what()};
    } catch (const ProtocolError& e) {
      return {grpc::StatusCode::INVALID_ARGUMENT, service_->party() + ": malformed request: " + e.what()};
    }
    if (!request) return {grpc::StatusCode::INVALID_ARGUMENT, service_->party() + ": empty request"};
    received_ += decoder.wire_bytes();
    Message reply;
    try {
      reply = service_->dispatch(*request, peer);
    } catch (const TransportError& e) {
      return {wire::to_status(e.code()), e.what()};
    } catch (const std::exception& e) {
      return {grpc::StatusCode::INTERNAL, service_->party() + ": " + request->op + ": " + e.what()};
    }
    codec::EncodedMessage encoded;
    try {
      encoded = codec::encode(reply, limits_);
    } catch (const ProtocolError& e) {
      return {grpc::StatusCode::INTERNAL, service_->party() + ": " + request->op + ": reply cannot be sent: " + e.what()};
    }
    if (!wire::send(*stream, encoded)) return {grpc::StatusCode::CANCELLED, "the caller went away"};
    sent_ += encoded.wire_bytes();
    calls_ += 1;
    return grpc::Status::OK;
  }

  grpc::Status Health(grpc::ServerContext*, const v1::HealthRequest*, v1::HealthReply* reply) override {
    reply->set_status(draining_ ? v1::HealthReply::DRAINING : v1::HealthReply::SERVING);
    reply->set_party(service_->party());
    for (const auto& op : service_->ops()) reply->add_ops(op);
    reply->set_stream_port(static_cast<std::uint32_t>(stream_port_.load()));
    return grpc::Status::OK;
  }

  void set_stream_port(int port) { stream_port_ = port; }

  // The caller's identity: the veil:// URI of its TLS certificate (gRPC verified the chain).
  [[nodiscard]] Peer caller(const grpc::ServerContext& ctx) const {
    if (insecure_) return Peer::unauthenticated();
    const auto auth = ctx.auth_context();
    if (!auth) return Peer::without_identity("no TLS peer");
    const auto pems = auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
    if (pems.size() != 1) return Peer::without_identity("no TLS peer certificate");
    return peer_from_pem(std::string(pems.front().data(), pems.front().size()));
  }
  void drain() {
    draining_ = true;
    cv_.notify_all();
  }
  [[nodiscard]] TrafficStats stats() const { return {calls_.load(), sent_.load(), received_.load()}; }

 private:
  // At most max_calls_ requests are decoded and handled at once; the others wait for a slot (until
  // their deadline, cancellation, or shutdown).
  struct Slot {
    Slot(PartyService& s, grpc::ServerContext* ctx) : svc(s) {
      std::unique_lock lock(svc.mu_);
      while (svc.in_flight_ >= svc.max_calls_) {
        if (svc.draining_ || ctx->IsCancelled()) return;
        svc.cv_.wait_for(lock, std::chrono::milliseconds(50));
      }
      ++svc.in_flight_;
      held = true;
    }
    ~Slot() {
      if (!held) return;
      {
        std::lock_guard lock(svc.mu_);
        --svc.in_flight_;
      }
      svc.cv_.notify_one();
    }
    PartyService& svc;
    bool held = false;
  };

  std::shared_ptr<transport::Service> service_;
  codec::CodecLimits limits_;
  const int max_calls_;
  const bool insecure_;
  std::mutex mu_;
  std::condition_variable cv_;
  int in_flight_ = 0;
  std::atomic<bool> draining_{false};
  std::atomic<int> stream_port_{0};
  std::atomic<std::uint64_t> calls_{0}, sent_{0}, received_{0};
};

}  // namespace

struct Server::Impl {
  std::unique_ptr<PartyService> party;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<stream::Listener> stream;
  std::string host;
  int port = 0;
  std::chrono::milliseconds grace{};
  std::once_flag once;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
};

std::unique_ptr<Server> Server::start(std::shared_ptr<Service> service, const ServeOptions& options) {
  if (!service) throw std::invalid_argument("serve: no service");
  const HostPort hp = parse_address(options.address);
  if (options.max_message_bytes == 0) throw std::invalid_argument("serve: max_message_bytes must be positive");
  auto creds = wire::server_credentials(options.address, options.tls);
  auto impl = std::make_unique<Impl>();
  impl->party = std::make_unique<PartyService>(service, options);
  impl->host = hp.host;
  impl->grace = options.shutdown_grace;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.address, creds, &impl->port);
  builder.RegisterService(impl->party.get());
  // A frame is a header (<= 3 MiB) or a 1 MiB chunk: gRPC's 4 MB default per frame is kept.
  builder.SetMaxReceiveMessageSize(4 << 20);
  // Two workers on one port would split the calls between them: refuse the second instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // The stream listener first, so that Health names its port from the first answer on.
  if (options.stream_port >= 0) {
    stream::ListenOptions lo;
    lo.host = hp.host;
    lo.port = options.stream_port;
    lo.tls = options.tls;
    lo.limits.max_message_bytes = options.max_message_bytes;
    lo.max_concurrent_calls = std::max(1, options.max_concurrent_calls);
    impl->stream = stream::Listener::start(service, lo);
    impl->party->set_stream_port(impl->stream->port());
  }
  impl->server = builder.BuildAndStart();
  if (!impl->server || impl->port == 0)
    throw std::invalid_argument("cannot listen on " + options.address + " (address in use, or not an address of this machine)");
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  shutdown();
  wait();
}

int Server::port() const { return impl_->port; }

std::string Server::address() const {
  const bool v6 = impl_->host.find(':') != std::string::npos;
  return (v6 ? "[" + impl_->host + "]" : impl_->host) + ":" + std::to_string(impl_->port);
}

void Server::shutdown() {
  std::call_once(impl_->once, [this] {
    impl_->party->drain();
    // New calls are refused at once; calls in flight get up to `grace` to finish, then are cancelled.
    // Both wires drain at once.
    std::thread stream_stop;
    if (impl_->stream) stream_stop = std::thread([this] { impl_->stream->stop(impl_->grace); });
    impl_->server->Shutdown(std::chrono::system_clock::now() + impl_->grace);
    impl_->server->Wait();
    if (stream_stop.joinable()) stream_stop.join();
    std::lock_guard lock(impl_->mu);
    impl_->done = true;
    impl_->cv.notify_all();
  });
}

void Server::wait() {
  std::unique_lock lock(impl_->mu);
  impl_->cv.wait(lock, [this] { return impl_->done; });
}

int Server::stream_port() const { return impl_->stream ? impl_->stream->port() : 0; }

TrafficStats Server::stats() const {
  TrafficStats t = impl_->party->stats();
  if (impl_->stream) t += impl_->stream->stats();
  return t;
}

}  // namespace veil::transport
