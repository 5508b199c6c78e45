#include "service/status.hpp"

#include <string>

#include <caf/error.hpp>
#include <caf/exit_reason.hpp>
#include <caf/sec.hpp>

#include "actors/errors.hpp"

namespace mm {

namespace {

grpc::Status make_status(grpc::StatusCode code, const caf::error& err,
                         const char* fallback) {
  auto text = text_of(err);
  return {code, text.empty() ? std::string{fallback} : std::move(text)};
}

grpc::Status domain_status(ec code, const caf::error& err) {
  using grpc::StatusCode;
  switch (code) {
    case ec::none: break;
    case ec::no_tickers:
      return make_status(StatusCode::INVALID_ARGUMENT, err,
                         "no tickers: give at least one ticker");
    case ec::bad_ticker:
      return make_status(StatusCode::INVALID_ARGUMENT, err, "malformed ticker");
    case ec::too_many_tickers:
      return make_status(StatusCode::INVALID_ARGUMENT, err,
                         "too many tickers for one session");
    case ec::bad_option:
      return make_status(StatusCode::INVALID_ARGUMENT, err,
                         "invalid session option");
    case ec::unknown_session:
      return make_status(StatusCode::NOT_FOUND, err,
                         "unknown session id (it may have expired or ended)");
    case ec::stream_already_attached:
      return make_status(StatusCode::FAILED_PRECONDITION, err,
                         "this session already has a stream attached");
    case ec::session_limit:
      return make_status(StatusCode::RESOURCE_EXHAUSTED, err,
                         "session limit of this server reached");
    case ec::slow_consumer:
      return make_status(StatusCode::RESOURCE_EXHAUSTED, err,
                         "stream evicted: the client read too slowly and "
                         "the pending queue overflowed");
    case ec::client_not_reading:
      return make_status(StatusCode::RESOURCE_EXHAUSTED, err,
                         "client not reading");
    case ec::ticker_limit:
      return make_status(StatusCode::RESOURCE_EXHAUSTED, err,
                         "ticker limit of this server reached");
    case ec::shutting_down:
      return make_status(StatusCode::UNAVAILABLE, err, "server shutting down");
    case ec::stopped:
      // StopPriceMonitoring ends the stream normally.
      return grpc::Status::OK;
    case ec::stream_ended:
      return make_status(StatusCode::CANCELLED, err, "stream ended");
    case ec::attach_timeout:
      return make_status(StatusCode::NOT_FOUND, err,
                         "session expired: no stream attached within the "
                         "attach timeout");
    case ec::killed:
      return make_status(StatusCode::ABORTED, err,
                         "session ended by an operator");
    case ec::deadline_exceeded:
      return make_status(StatusCode::DEADLINE_EXCEEDED, err,
                         "the call's deadline passed");
    case ec::token_expired:
      return make_status(StatusCode::UNAUTHENTICATED, err, "token expired");
    case ec::bad_config:
    case ec::handshake_failed:
    case ec::malformed_tick:
      // Startup, reload and cluster links: no client call ends with these.
      break;
  }
  return make_status(StatusCode::INTERNAL, err, "internal error");
}

} // namespace

grpc::Status to_status(const caf::error& err) {
  using grpc::StatusCode;
  if (!err)
    return grpc::Status::OK;
  if (err.category() == caf::atom("mm"))
    return domain_status(static_cast<ec>(err.code()), err);
  if (err == caf::sec::request_receiver_down)
    // The session died between lookup and request.
    return {StatusCode::NOT_FOUND, "session ended"};
  if (err == caf::sec::request_timeout)
    return {StatusCode::UNAVAILABLE, "the server did not answer in time"};
  if (err == caf::exit_reason::user_shutdown)
    return {StatusCode::UNAVAILABLE, "server shutting down"};
  if (err == caf::exit_reason::kill)
    return {StatusCode::ABORTED, "session ended by an operator"};
  return {StatusCode::INTERNAL, "internal error: " + caf::to_string(err)};
}

} // namespace mm
