// Who is calling: the identity a party's certificate carries, and the roles an operation admits.
//
// A party's certificate names it with one subjectAltName URI `veil://ROLE/NAME` (`veil cert issue`
// writes it; docs/transport.md "Identities"). The roles are the four parties of a run. Every
// service operation declares the roles that may call it (Service::on); the transport checks the
// caller's identity, taken from the TLS peer certificate of the call (gRPC and the TLS stream) or
// given explicitly to an in-process endpoint, before the request's body is read. A certificate
// without exactly one veil identity is refused by every operation. A peer of an --insecure
// (loopback-only, plaintext) server has no certificate: it is "unauthenticated" and admitted by
// every operation, because the server cannot tell one local process from another
// (docs/transport.md "What --insecure means").
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace veil::transport {

enum class Role : std::uint8_t { kModelOwner, kDataOwner, kWorker, kEnclave };

// "model-owner", "data-owner", "worker", "enclave".
[[nodiscard]] const char* to_string(Role role);
// The role named `text`; nullopt for anything else.
[[nodiscard]] std::optional<Role> parse_role(std::string_view text);
// "model-owner, data-owner, worker, enclave" (for error messages and --help).
[[nodiscard]] std::string all_role_names();

// A set of roles: who may call an operation.
class Roles {
 public:
  constexpr Roles(std::initializer_list<Role> roles) {
    for (Role r : roles) bits_ |= bit(r);
  }
  [[nodiscard]] constexpr bool contains(Role role) const { return (bits_ & bit(role)) != 0; }
  [[nodiscard]] constexpr bool empty() const { return bits_ == 0; }
  // "enclave or data-owner"; "no role" when empty.
  [[nodiscard]] std::string to_string() const;

 private:
  static constexpr std::uint8_t bit(Role r) { return static_cast<std::uint8_t>(1u << static_cast<unsigned>(r)); }
  std::uint8_t bits_ = 0;
};

// Who may call a worker of any design (plain, he-lora, obfuscatune, split/gradfree/offsite, echo):
// the enclave that drives it, or the data owner that runs the session.
inline constexpr Roles kWorkerCallers{Role::kEnclave, Role::kDataOwner};

// A name in an identity: 1-64 characters of [A-Za-z0-9._-], not starting with '.' or '-'.
[[nodiscard]] bool valid_identity_name(std::string_view name);
// "veil://ROLE/NAME". Throws std::invalid_argument for a bad name.
[[nodiscard]] std::string identity_uri(Role role, std::string_view name);

// The caller of an operation, as the transport established it.
class Peer {
 public:
  enum class Kind : std::uint8_t {
    kIdentified,       // a certificate with one veil identity (or an in-process caller given one)
    kWithoutIdentity,  // a certificate from the CA without a (valid, single) veil identity
    kUnauthenticated,  // an --insecure connection: no certificate at all
  };
  [[nodiscard]] static Peer identified(Role role, std::string name);
  // `why`: what the certificate carries instead ("subject CN=x, no veil:// URI").
  [[nodiscard]] static Peer without_identity(std::string why);
  [[nodiscard]] static Peer unauthenticated();

  [[nodiscard]] Kind kind() const { return kind_; }
  [[nodiscard]] std::optional<Role> role() const;  // set for kIdentified only
  [[nodiscard]] const std::string& name() const { return name_; }
  // "data-owner/acme", "a certificate without a veil identity (...)", "an unauthenticated
  // --insecure peer".
  [[nodiscard]] std::string to_string() const;
  // What tells two callers apart (the reply cache's key): the identity, or the kind.
  [[nodiscard]] std::string key() const;
  // Whether an operation admitting `allowed` admits this peer (unauthenticated peers: always).
  [[nodiscard]] bool admitted_by(const Roles& allowed) const;

 private:
  Peer(Kind kind, Role role, std::string name) : kind_(kind), role_(role), name_(std::move(name)) {}
  Kind kind_;
  Role role_;
  std::string name_;  // the identity's name, or the reason there is none
};

// The identity in a subjectAltName URI: Peer::identified for "veil://ROLE/NAME" with a known role
// and a valid name; nullopt for a URI of another scheme; Peer::without_identity naming the problem
// for a malformed veil:// URI.
[[nodiscard]] std::optional<Peer> peer_from_uri(std::string_view uri);

}  // namespace veil::transport
