// An endpoint whose peer is a Service in the same process: the same messages, encodings, tap and
// statistics as across the network, without a socket. Tests and single-machine runs use it.
#pragma once

#include <memory>
#include <string>

#include "veil/transport/endpoint.h"
#include "veil/transport/identity.h"
#include "veil/transport/service.h"

namespace veil::transport {

// How an in-process call hands its request and reply over.
enum class Handover {
  // Encoded and decoded by the wire codec, as across the network: each side owns its copy and a
  // malformed message fails exactly as it would remotely. The default.
  kWire,
  // The same tensors, not copied (made contiguous where they are not): for a worker and its caller
  // in one process, where copying every activation is the cost (about 150 MB per Llama-1B-width step).
  // The message is still encoded (without copying its data), so size limits and the byte counts in
  // stats() are the wire's. Both sides must treat received tensors as read-only, as every design's
  // handlers do.
  kShared,
};

// `caller`: the identity the service sees for every call through this endpoint (what a
// certificate would carry across the network), checked against each op's roles as remotely.
[[nodiscard]] std::shared_ptr<Endpoint> connect_in_process(std::shared_ptr<Service> service, Peer caller,
                                                           Handover handover = Handover::kWire);

}  // namespace veil::transport
