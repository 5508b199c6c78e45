#include "service/auth.hpp"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/auth_context.h>
#include <grpcpp/server_context.h>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "actors/errors.hpp"
#include "actors/node_config.hpp"

namespace mm {

namespace {

/// The client certificate's subject (RFC 2253 form, as gRPC reports it),
/// or an empty string.
std::string certificate_subject(const grpc::ServerContextBase& ctx) {
  auto auth = ctx.auth_context();
  if (!auth || !auth->IsPeerAuthenticated())
    return {};
  auto values = auth->FindPropertyValues(GRPC_X509_SUBJECT_PROPERTY_NAME);
  if (values.empty())
    return {};
  return std::string{values.front().data(), values.front().size()};
}

} // namespace

grpc::Status call_auth::allows(const std::vector<std::string>& names) const {
  if (!restricted)
    return grpc::Status::OK;
  for (const auto& x : names)
    if (!ticker_allowed(tickers, x))
      return {grpc::StatusCode::PERMISSION_DENIED,
              "ticker " + x + " is not allowed by the token's tickers claim"};
  return grpc::Status::OK;
}

caf::error authenticator::configure(const node_config& cfg) {
  mtls_ = !cfg.tls_client_ca.empty();
  jwt_ = cfg.auth == "jwt";
  key_file_ = cfg.jwt_key_file;
  if (!jwt_)
    return caf::none;
  return reload();
}

caf::error authenticator::reload() {
  if (!jwt_)
    return caf::none;
  auto key = load_token_key(key_file_);
  if (!key)
    return caf::make_error(ec::bad_config,
                           "--jwt-key-file: " + text_of(key.error()));
  auto shared = std::make_shared<const token_key>(std::move(*key));
  std::lock_guard<std::mutex> guard{mtx_};
  key_ = std::move(shared);
  return caf::none;
}

call_auth authenticator::check(const grpc::ServerContextBase& ctx) const {
  call_auth result;
  result.who.peer_host = peer_host_of(ctx.peer());
  if (mtls_) {
    result.who.identity = certificate_subject(ctx);
    // The handshake requires a verified certificate; one without a
    // subject would make its sessions everybody's.
    if (result.who.identity.empty()) {
      result.status = {grpc::StatusCode::UNAUTHENTICATED,
                       "missing credentials: no client certificate subject"};
      return result;
    }
  }
  if (!jwt_)
    return result;
  std::shared_ptr<const token_key> key;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    key = key_;
  }
  const auto& md = ctx.client_metadata();
  auto i = md.find("authorization");
  auto present = i != md.end();
  std::string_view value;
  if (present)
    value = std::string_view{i->second.data(), i->second.size()};
  auto now = std::chrono::system_clock::now();
  auto verdict = check_authorization(
    present, value, *key,
    std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch())
      .count());
  if (verdict.error != token_error::none) {
    result.status = {grpc::StatusCode::UNAUTHENTICATED, verdict.message};
    result.who.identity.clear();
    return result;
  }
  // With a token, its subject is the identity (a client certificate only
  // proves the connection then).
  result.who.identity = std::move(verdict.claims.subject);
  result.expires = std::chrono::system_clock::time_point{
    std::chrono::seconds{verdict.claims.expires}};
  result.restricted = verdict.claims.restricted;
  result.tickers = std::move(verdict.claims.tickers);
  return result;
}

} // namespace mm
