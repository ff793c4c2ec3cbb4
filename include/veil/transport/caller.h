// Who is calling, seen from inside a handler: the identity of the peer whose request the current
// thread is handling, so a stateful worker can bind a session to the caller that opened it.
//
// Service::dispatch sets it around the handler (so on both wires and in-process); outside a
// dispatch the key is empty. A session stores caller_key() when it is opened and every later call
// naming it runs check_session_owner() first: a call from another identity — another data owner of
// the same CA that learned the session id — is refused with kPermissionDenied. Unauthenticated
// (--insecure) peers all share one key, so --insecure binds nothing (docs/transport.md).
#pragma once

#include <string>

namespace veil::transport {

// The current caller's Peer::key() ("veil://data-owner/acme"); "" outside Service::dispatch.
[[nodiscard]] std::string caller_key();

// Throws TransportError kPermissionDenied ("<what>: opened by <owner>, not by <caller>") when
// `owner` (a caller_key() stored when the session was opened) is not the current caller's key.
void check_session_owner(const std::string& what, const std::string& owner);

}  // namespace veil::transport
