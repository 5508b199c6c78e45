#include "service/request_checks.hpp"

#include <algorithm>

#include <caf/expected.hpp>

#include "actors/errors.hpp"
#include "actors/node_config.hpp"
#include "actors/session_options.hpp"
#include "actors/ticker_patterns.hpp"
#include "actors/tickers.hpp"

namespace mm {

namespace v1 = marketmonitor::v1;

namespace {

using grpc::StatusCode;

using raw_tickers = google::protobuf::RepeatedPtrField<std::string>;

/// Normalizes `raw` into `out`.
grpc::Status normalize(const raw_tickers& raw, std::vector<std::string>& out) {
  std::vector<std::string> xs{raw.begin(), raw.end()};
  auto normalized = normalize_tickers(xs);
  if (!normalized)
    return {StatusCode::INVALID_ARGUMENT, text_of(normalized.error())};
  out = std::move(*normalized);
  return grpc::Status::OK;
}

/// Normalizes `raw` into `out`; checks that there is at least one ticker and,
/// if `limit` is not 0, at most `limit`.
grpc::Status check_tickers(const raw_tickers& raw, uint32_t limit,
                           std::vector<std::string>& out) {
  if (auto st = normalize(raw, out); !st.ok())
    return st;
  if (out.empty())
    return {StatusCode::INVALID_ARGUMENT,
            "no tickers: give at least one ticker"};
  if (limit != 0 && out.size() > limit)
    return {StatusCode::INVALID_ARGUMENT,
            "too many tickers: " + std::to_string(out.size())
              + " distinct tickers given, a session may have at most "
              + std::to_string(limit)};
  return grpc::Status::OK;
}

/// Resolves the options of a request against the server defaults.
grpc::Status check_options(const v1::SessionOptions& in, const node_config& cfg,
                           session_options& out) {
  out.flush_interval_ms = in.flush_interval_ms();
  out.snapshot = in.snapshot();
  out.max_batch = in.max_batch();
  out.max_frequency_hz = in.max_frequency_hz();
  auto err = resolve_options(out, static_cast<uint32_t>(in.mode()), cfg);
  if (err)
    return {StatusCode::INVALID_ARGUMENT, text_of(err)};
  return grpc::Status::OK;
}

using raw_positions = google::protobuf::RepeatedPtrField<v1::StreamPosition>;

/// Checks `resume_from` against the session's `tickers` (sorted).
grpc::Status check_positions(const raw_positions& in,
                             const std::vector<std::string>& tickers,
                             std::vector<stream_position>& out) {
  for (const auto& x : in) {
    auto ticker = normalize_ticker(x.ticker());
    if (ticker.empty())
      return {StatusCode::INVALID_ARGUMENT, "resume_from: malformed ticker \""
                                              + x.ticker().substr(0, 32)
                                              + "\""};
    if (!std::binary_search(tickers.begin(), tickers.end(), ticker))
      return {StatusCode::INVALID_ARGUMENT,
              "resume_from: ticker " + ticker
                + " is not one of the session's tickers"};
    auto same = [&](const stream_position& y) { return y.ticker == ticker; };
    if (std::any_of(out.begin(), out.end(), same))
      return {StatusCode::INVALID_ARGUMENT,
              "resume_from: more than one position for ticker " + ticker};
    out.push_back({ticker, x.epoch(), x.seq()});
  }
  return grpc::Status::OK;
}

/// Checks the tickers, options and positions of a request that starts a
/// session.
grpc::Status check_start(const raw_tickers& raw, const v1::SessionOptions& in,
                         const raw_positions& positions, const node_config& cfg,
                         std::vector<std::string>& tickers,
                         session_options& opts) {
  auto st = check_tickers(raw, cfg.max_tickers_per_session, tickers);
  if (st.ok())
    st = check_options(in, cfg, opts);
  if (st.ok())
    st = check_positions(positions, tickers, opts.resume_from);
  return st;
}

} // namespace

grpc::Status check_allowed(const std::vector<std::string>& tickers,
                           const ticker_patterns* allow) {
  if (allow == nullptr)
    return grpc::Status::OK;
  for (auto& x : tickers)
    if (!allow->matches(x))
      return {StatusCode::PERMISSION_DENIED,
              "ticker " + x
                + " is not allowed on this server (--ticker-allowlist)"};
  return grpc::Status::OK;
}

grpc::Status check_start_request(const v1::StartPriceMonitoringRequest& req,
                                 const node_config& cfg,
                                 const ticker_patterns* allow,
                                 std::vector<std::string>& tickers,
                                 session_options& opts) {
  auto st = check_start(req.tickers(), req.options(), req.resume_from(), cfg,
                        tickers, opts);
  return st.ok() ? check_allowed(tickers, allow) : st;
}

grpc::Status check_subscribe_request(const v1::SubscribeRequest& req,
                                     const node_config& cfg,
                                     const ticker_patterns* allow,
                                     std::vector<std::string>& tickers,
                                     session_options& opts) {
  auto st = check_start(req.tickers(), req.options(), req.resume_from(), cfg,
                        tickers, opts);
  return st.ok() ? check_allowed(tickers, allow) : st;
}

grpc::Status check_update_request(const v1::UpdateSubscriptionRequest& req,
                                  const ticker_patterns* allow,
                                  std::vector<std::string>& add,
                                  std::vector<std::string>& remove) {
  auto st = normalize(req.add(), add);
  if (st.ok())
    st = normalize(req.remove(), remove);
  if (!st.ok())
    return st;
  if (add.empty() && remove.empty())
    return {StatusCode::INVALID_ARGUMENT,
            "nothing to update: give tickers to add or remove"};
  return check_allowed(add, allow);
}

grpc::Status check_last_request(const v1::GetLastPricesRequest& req,
                                const ticker_patterns* allow,
                                std::vector<std::string>& tickers) {
  auto st = check_tickers(req.tickers(), 0, tickers);
  return st.ok() ? check_allowed(tickers, allow) : st;
}

} // namespace mm
