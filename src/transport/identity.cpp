// Roles, identity URIs and the caller of an operation (veil/transport/identity.h).
#include "veil/transport/identity.h"

#include <array>
#include <stdexcept>

namespace veil::transport {
namespace {

constexpr std::array<Role, 4> kAllRoles{Role::kModelOwner, Role::kDataOwner, Role::kWorker, Role::kEnclave};
constexpr std::string_view kScheme = "veil://";

}  // namespace

const char* to_string(Role role) {
  switch (role) {
    case Role::kModelOwner: return "model-owner";
    case Role::kDataOwner: return "data-owner";
    case Role::kWorker: return "worker";
    case Role::kEnclave: return "enclave";
  }
  return "?";
}

std::optional<Role> parse_role(std::string_view text) {
  for (Role r : kAllRoles)
    if (text == to_string(r)) return r;
  return std::nullopt;
}

std::string all_role_names() {
  std::string out;
  for (Role r : kAllRoles) out += (out.empty() ? "" : ", ") + std::string(to_string(r));
  return out;
}

std::string Roles::to_string() const {
  std::string out;
  int n = 0;
  for (Role r : kAllRoles) n += contains(r);
  int i = 0;
  for (Role r : kAllRoles) {
    if (!contains(r)) continue;
    if (i > 0) out += (i == n - 1) ? " or " : ", ";
    out += transport::to_string(r);
    ++i;
  }
  return out.empty() ? "no role" : out;
}

bool valid_identity_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '.' || name.front() == '-') return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                    c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string identity_uri(Role role, std::string_view name) {
  if (!valid_identity_name(name))
    throw std::invalid_argument("identity name '" + std::string(name) +
                                "' is not valid (1-64 characters of A-Z a-z 0-9 . _ -, not starting with . or -)");
  return std::string(kScheme) + to_string(role) + "/" + std::string(name);
}

Peer Peer::identified(Role role, std::string name) { return Peer(Kind::kIdentified, role, std::move(name)); }
Peer Peer::without_identity(std::string why) { return Peer(Kind::kWithoutIdentity, Role::kWorker, std::move(why)); }
Peer Peer::unauthenticated() { return Peer(Kind::kUnauthenticated, Role::kWorker, ""); }

std::optional<Role> Peer::role() const {
  if (kind_ != Kind::kIdentified) return std::nullopt;
  return role_;
}

std::string Peer::to_string() const {
  switch (kind_) {
    case Kind::kIdentified: return std::string(transport::to_string(role_)) + "/" + name_;
    case Kind::kWithoutIdentity: return "a certificate without a veil identity (" + name_ + ")";
    case Kind::kUnauthenticated: return "an unauthenticated --insecure peer";
  }
  return "?";
}

std::string Peer::key() const {
  switch (kind_) {
    case Kind::kIdentified: return identity_uri(role_, name_);
    case Kind::kWithoutIdentity: return "veil-none:";
    case Kind::kUnauthenticated: return "veil-insecure:";
  }
  return "?";
}

bool Peer::admitted_by(const Roles& allowed) const {
  if (kind_ == Kind::kUnauthenticated) return true;
  return kind_ == Kind::kIdentified && allowed.contains(role_);
}

std::optional<Peer> peer_from_uri(std::string_view uri) {
  if (uri.size() < kScheme.size() || uri.substr(0, kScheme.size()) != kScheme) return std::nullopt;
  const std::string_view rest = uri.substr(kScheme.size());
  const auto slash = rest.find('/');
  const auto bad = [&](const std::string& why) {
    std::string shown(uri.substr(0, 128));
    for (char& c : shown)
      if (c < 0x20 || c > 0x7e) c = '?';
    return Peer::without_identity("the URI '" + shown + "' " + why);
  };
  if (slash == std::string_view::npos) return bad("has no /NAME");
  const auto role = parse_role(rest.substr(0, slash));
  if (!role) return bad("names no known role (" + all_role_names() + ")");
  const std::string_view name = rest.substr(slash + 1);
  if (!valid_identity_name(name)) return bad("has an invalid name");
  return Peer::identified(*role, std::string(name));
}

}  // namespace veil::transport
