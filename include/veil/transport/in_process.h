// An endpoint whose peer is a Service in the same process: the same messages, encodings, tap and
// statistics as across the network, without a socket. Tests and single-machine runs use it.
#pragma once

#include <memory>
#include <string>

#include "veil/transport/endpoint.h"
#include "veil/transport/service.h"

namespace veil::transport {

[[nodiscard]] std::shared_ptr<Endpoint> connect_in_process(std::shared_ptr<Service> service);

}  // namespace veil::transport
