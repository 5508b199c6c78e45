#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <caf/fwd.hpp>
#include <grpcpp/support/status.h>

#include "service/caller.hpp"
#include "service/token_check.hpp"

namespace grpc {
class ServerContextBase;
} // namespace grpc

namespace mm {

struct node_config;

/// What one call proved about its caller.
struct call_auth {
  /// OK, or UNAUTHENTICATED saying which check failed.
  grpc::Status status;
  /// The verified identity (token `sub`, else the client certificate's
  /// subject; empty without auth and mTLS) and the peer's host.
  caller who;
  /// When the token expires (nothing without a token).
  std::optional<std::chrono::system_clock::time_point> expires;
  /// Whether a `tickers` claim limits what may be subscribed, to these
  /// names and prefixes.
  bool restricted = false;
  std::vector<std::string> tickers;

  /// OK, or PERMISSION_DENIED naming the first of `names` (normalized) that
  /// the token's `tickers` claim does not allow.
  grpc::Status allows(const std::vector<std::string>& names) const;
};

/// Authenticates the calls of the MarketMonitor service: with `--auth jwt`
/// each call's `authorization: Bearer <token>` metadata, with mutual TLS the
/// client certificate that gRPC verified during the handshake. Verification
/// happens in the handlers (the unary ones and the arrival of the streaming
/// ones), on the thread that serves the call: it is a pure function of the
/// metadata and the key, so nothing has to be carried between gRPC's
/// threads, and an AuthMetadataProcessor would not run on plain-text ports,
/// where loopback deployments still use tokens.
class authenticator {
public:
  /// Takes the settings of `cfg` and loads the key of --jwt-key-file.
  /// Fails with `ec::bad_config` and what is wrong (see `text_of`).
  caf::error configure(const node_config& cfg);

  /// Rereads --jwt-key-file (SIGHUP); a bad file keeps the old key.
  /// Fails with `ec::bad_config` and what is wrong.
  caf::error reload();

  /// Authenticates the call of `ctx`.
  call_auth check(const grpc::ServerContextBase& ctx) const;

  bool uses_tokens() const {
    return jwt_;
  }

private:
  bool jwt_ = false;
  bool mtls_ = false;
  std::string key_file_;
  mutable std::mutex mtx_;
  std::shared_ptr<const token_key> key_;
};

} // namespace mm
