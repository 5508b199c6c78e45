#pragma once

#include <cstdint>
#include <string>

#include <caf/error.hpp>
// CAF_ERROR_CODE_ENUM's error_factory calls make_message: without this,
// make_error(ec::..., "text") does not compile (tests/unit/errors_test.cpp).
#include <caf/make_message.hpp>

namespace mm {

/// Domain errors of marketmonitor. Session exit reasons are among them, so the
/// registry can count `sessions_ended_total` by reason and the gRPC layer can
/// finish a stream with the status that fits (see docs/api.md).
enum class ec : uint8_t {
  /// Not an error.
  none = 0,
  // --- bad requests (INVALID_ARGUMENT) ---
  no_tickers,
  bad_ticker,
  too_many_tickers,
  bad_option,
  // --- lookups (NOT_FOUND) ---
  unknown_session,
  // --- state (FAILED_PRECONDITION) ---
  stream_already_attached,
  // --- limits (RESOURCE_EXHAUSTED) ---
  session_limit,
  slow_consumer,
  // --- node state (UNAVAILABLE) ---
  shutting_down,
  // --- session exit reasons that are not failures of the client ---
  /// StopPriceMonitoring: the stream completes with OK.
  stopped,
  /// The client's stream ended (cancel, deadline, broken transport).
  stream_ended,
  /// Nobody attached a stream within the attach timeout.
  attach_timeout,
  /// An operator ended the session: the stream ends with ABORTED.
  killed,
  // --- added later: new codes go last, so that the numbers of the others
  // (which cross cluster links) never change ---
  // limits (RESOURCE_EXHAUSTED):
  /// A write to the session's stream did not complete within
  /// --write-stall-timeout-ms: the client stopped reading.
  client_not_reading,
  /// --max-tickers: the node serves that many distinct tickers already.
  ticker_limit,
  // session exit reasons:
  /// The client's stream ended because its deadline (grpc-timeout) passed.
  deadline_exceeded,
  /// The token that opened the stream expired (UNAUTHENTICATED).
  token_expired,
  // startup and reload (never a session's end, never sent to a client):
  /// A setting cannot be used: a TLS, token key or secret file that cannot
  /// be read or does not check out, a port that cannot be bound.
  bad_config,
  /// A cluster link's secret challenge failed (actors/cluster_secret.hpp).
  handshake_failed,
  /// A feed payload that is not a tick (actors/tick_parser.hpp): counted in
  /// `ticks_malformed_total` and dropped, never a session's end.
  malformed_tick,
};

/// Returns the name of `x`, as used in `sessions_ended_total`.
const char* to_string(ec x);

/// Returns the `ec` of `err` or `ec::none` if it belongs to another category.
ec code_of(const caf::error& err);

/// Returns the text attached to `err` by `make_error(code, "text")`, or an
/// empty string.
std::string text_of(const caf::error& err);

} // namespace mm

CAF_ERROR_CODE_ENUM(mm::ec, "mm")
