#include "veil/transport/message.h"

namespace veil::transport {

std::size_t Message::payload_bytes() const {
  std::size_t n = 0;
  for (const auto& [name, t] : tensors) n += t.defined() ? t.numel() * t.element_size() : 0;
  for (const auto& [name, b] : blobs) n += b.size();
  return n;
}

const at::Tensor& Message::tensor(const std::string& name) const {
  auto it = tensors.find(name);
  if (it == tensors.end() || !it->second.defined())
    throw ProtocolError("message '" + op + "' lacks tensor '" + name + "'");
  return it->second;
}

const std::string& Message::blob(const std::string& name) const {
  auto it = blobs.find(name);
  if (it == blobs.end()) throw ProtocolError("message '" + op + "' lacks blob '" + name + "'");
  return it->second;
}

}  // namespace veil::transport
