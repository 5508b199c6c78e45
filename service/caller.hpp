#pragma once

#include <string>

namespace mm {

/// Who is calling: the verified identity (token `sub` or client certificate
/// subject; empty when the node runs without auth and without mTLS) and the
/// peer's host (address without port). Limits and session ownership key on
/// `key()`: the identity when there is one, else the peer's host.
struct caller {
  std::string identity;
  std::string peer_host;

  /// "id:<identity>" or "peer:<host>": one namespace for both kinds of key.
  std::string key() const {
    return identity.empty() ? "peer:" + peer_host : "id:" + identity;
  }
};

/// The host part of a gRPC peer string ("ipv4:127.0.0.1:5000",
/// "ipv6:[::1]:5000", "unix:/path"): "127.0.0.1", "::1", "unix:/path".
std::string peer_host_of(const std::string& grpc_peer);

/// (The caller of a call comes from `authenticator::check`, which verifies
/// its credentials once: service/auth.hpp.)

} // namespace mm
