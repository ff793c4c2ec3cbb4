#include "transport/stream/client.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "transport/codec.h"
#include "transport/request_id.h"
#include "transport/stream/connection.h"
#include "transport/stream/frame.h"
#include "transport/stream/message_io.h"

namespace veil::transport::stream {
namespace {

using Clock = std::chrono::steady_clock;

class StreamEndpoint final : public Endpoint {
 public:
  StreamEndpoint(std::string address, std::string host, int port, std::string server_name, const ConnectOptions& options)
      : address_(std::move(address)), host_(std::move(host)), port_(port), server_name_(std::move(server_name)),
        options_(options), ctx_(client_context(options.tls)), id_prefix_(random_request_prefix()) {
    limits_.max_message_bytes = options_.max_message_bytes;
  }

  Message call(Message request) override {
    if (request.request_id.empty()) request.request_id = id_prefix_ + "-" + std::to_string(next_id_.fetch_add(1));
    const std::string op = request.op;
    codec::EncodedMessage encoded;
    try {
      encoded = codec::encode(request, limits_);
    } catch (const codec::MessageTooLarge& e) {
      throw TransportError(ErrorCode::kResourceExhausted, address_ + ": " + op + ": " + e.what());
    } catch (const ProtocolError& e) {
      throw TransportError(ErrorCode::kInvalidArgument, address_ + ": " + op + ": " + e.what());
    }
    const auto deadline = Clock::now() + options_.deadline;
    auto backoff = std::chrono::milliseconds(100);
    for (int attempt = 0;; ++attempt) {
      std::string failure;
      bool timed_out = false;
      for (int fresh = 0; fresh < 2; ++fresh) {  // a pooled connection the peer closed: once more on a new one
        std::unique_ptr<Connection> conn;
        bool pooled = false;
        try {
          conn = take(pooled, deadline);
          const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
          if (left.count() <= 0) throw IoError("no time left", true);
          conn->set_timeout(left);
          write_message(*conn, Kind::kRequest, encoded);
          char prefix_bytes[kPrefixBytes];
          conn->read(prefix_bytes, sizeof prefix_bytes);
          Prefix p;
          try {
            p = parse_prefix(std::string_view(prefix_bytes, sizeof prefix_bytes), limits_);
          } catch (const ProtocolError& e) {
            throw TransportError(ErrorCode::kInvalidArgument, address_ + ": " + op + ": malformed reply: " + e.what());
          }
          const auto reader = [&](char* d, std::size_t n) { conn->read(d, n); };
          if (p.kind == Kind::kError) {
            const std::string text = read_error_text(p, reader);
            give_back(std::move(conn));
            std::string what = address_ + ": " + op + ": " + to_string(p.code) + ": " + text;
            if (attempt > 0) what += " (after " + std::to_string(attempt + 1) + " attempts)";
            if (p.code == ErrorCode::kUnavailable) {
              failure = what;
              break;  // the peer is shutting down: retried below like a broken connection
            }
            throw TransportError(p.code, what);
          }
          if (p.kind != Kind::kReply)
            throw TransportError(ErrorCode::kInvalidArgument, address_ + ": " + op + ": malformed reply: not a reply frame");
          codec::MessageDecoder decoder(limits_);
          Message reply;
          try {
            read_message(p, reader, decoder);
            reply = decoder.finish();
          } catch (const ProtocolError& e) {
            throw TransportError(ErrorCode::kInvalidArgument, address_ + ": " + op + ": malformed reply: " + e.what());
          }
          give_back(std::move(conn));
          std::lock_guard lock(mu_);
          stats_.calls += 1;
          stats_.bytes_sent += encoded.wire_bytes();
          stats_.bytes_received += decoder.wire_bytes();
          return reply;
        } catch (const IoError& e) {
          failure = e.what();
          timed_out = e.timeout();
          if (pooled && !timed_out) {  // the idle connection had gone stale (so have its siblings)
            std::lock_guard lock(mu_);
            idle_.clear();
            continue;
          }
          break;
        }
      }
      if (timed_out || Clock::now() >= deadline)
        throw TransportError(ErrorCode::kDeadlineExceeded, address_ + ": " + op + ": deadline exceeded: " + failure);
      if (attempt < options_.retries && Clock::now() + backoff < deadline) {
        std::this_thread::sleep_for(backoff);  // same request id: the peer applies it once
        backoff *= 2;
        continue;
      }
      std::string what = address_ + ": " + op + ": unavailable: " + failure;
      if (attempt > 0) what += " (after " + std::to_string(attempt + 1) + " attempts)";
      throw TransportError(ErrorCode::kUnavailable, what);
    }
  }

  TrafficStats stats() const override {
    std::lock_guard lock(mu_);
    return stats_;
  }
  std::string peer() const override { return address_; }

 private:
  // An idle connection, or a new one (dialled within the call's deadline).
  std::unique_ptr<Connection> take(bool& pooled, Clock::time_point deadline) {
    {
      std::lock_guard lock(mu_);
      if (!idle_.empty()) {
        auto c = std::move(idle_.back());
        idle_.pop_back();
        pooled = true;
        return c;
      }
    }
    pooled = false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) throw IoError("no time left to connect", true);
    // A short connect: a port that drops packets (a firewall) should fail over soon, not at the deadline.
    return Connection::dial(host_, port_, ctx_, server_name_, std::min(left, std::chrono::milliseconds(5000)));
  }
  void give_back(std::unique_ptr<Connection> c) {
    std::lock_guard lock(mu_);
    if (idle_.size() < 8) idle_.push_back(std::move(c));
  }

  std::string address_, host_;
  int port_;
  std::string server_name_;
  ConnectOptions options_;
  codec::CodecLimits limits_;
  TlsContext ctx_;
  std::string id_prefix_;
  std::atomic<std::uint64_t> next_id_{1};
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_;
  TrafficStats stats_;
};

}  // namespace

std::shared_ptr<Endpoint> make_endpoint(const std::string& address, const std::string& host, int port,
                                        const std::string& server_name, const ConnectOptions& options) {
  return std::make_shared<StreamEndpoint>(address, host, port, server_name, options);
}

}  // namespace veil::transport::stream
