#include "actors/errors.hpp"

#include <caf/message.hpp>

namespace mm {

const char* to_string(ec x) {
  switch (x) {
    case ec::none: return "none";
    case ec::no_tickers: return "no_tickers";
    case ec::bad_ticker: return "bad_ticker";
    case ec::too_many_tickers: return "too_many_tickers";
    case ec::bad_option: return "bad_option";
    case ec::unknown_session: return "unknown_session";
    case ec::stream_already_attached: return "stream_already_attached";
    case ec::session_limit: return "session_limit";
    case ec::slow_consumer: return "slow_consumer";
    case ec::client_not_reading: return "client_not_reading";
    case ec::ticker_limit: return "ticker_limit";
    case ec::shutting_down: return "shutdown";
    case ec::stopped: return "stopped";
    case ec::stream_ended: return "stream_ended";
    case ec::attach_timeout: return "attach_timeout";
    case ec::killed: return "killed";
    case ec::deadline_exceeded: return "deadline_exceeded";
    case ec::token_expired: return "token_expired";
    case ec::bad_config: return "bad_config";
    case ec::handshake_failed: return "handshake_failed";
    case ec::malformed_tick: return "malformed_tick";
  }
  return "unknown";
}

ec code_of(const caf::error& err) {
  if (!err || err.category() != caf::atom("mm"))
    return ec::none;
  return static_cast<ec>(err.code());
}

std::string text_of(const caf::error& err) {
  if (!err) // CAF's context() of an empty error dereferences null
    return {};
  const auto& ctx = err.context();
  if (!ctx.empty() && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return {};
}

} // namespace mm
