// libFuzzer target: arbitrary request messages through the gRPC layer's
// request checks (service/request_checks.hpp), the code that turns
// StartPriceMonitoringRequest, SubscribeRequest, UpdateSubscriptionRequest,
// GetLastPricesRequest and their SessionOptions into errors before any actor
// sees them. A request that passes must hold what the actors rely on; one
// that fails must get INVALID_ARGUMENT or PERMISSION_DENIED with a short
// message that says why. The same request checked twice gets the same answer.
//
// Input layout: byte 0 picks the request type (mod 4) and whether the
// allowlist is on (bit 2); the rest is the request's protobuf encoding.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <caf/error.hpp>

#include "actors/node_config.hpp"
#include "actors/session_options.hpp"
#include "actors/ticker_patterns.hpp"
#include "actors/tickers.hpp"
#include "service/request_checks.hpp"

namespace {

namespace v1 = marketmonitor::v1;

void check(bool ok, const char* what) {
  if (ok)
    return;
  std::fprintf(stderr, "invariant violated: %s\n", what);
  std::abort();
}

/// Refusals are short: a request never echoes more than a ticker's worth
/// of itself.
constexpr size_t max_message = 400;

void check_refusal(const grpc::Status& st) {
  check(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT
          || st.error_code() == grpc::StatusCode::PERMISSION_DENIED,
        "a refusal is INVALID_ARGUMENT or PERMISSION_DENIED");
  check(!st.error_message().empty(), "a refusal says why");
  check(st.error_message().size() <= max_message, "a refusal is short");
}

/// Normalized, sorted, without duplicates, allowed.
void check_tickers(const std::vector<std::string>& xs,
                   const mm::ticker_patterns* allow) {
  check(std::is_sorted(xs.begin(), xs.end()), "tickers sorted");
  check(std::adjacent_find(xs.begin(), xs.end()) == xs.end(),
        "tickers without duplicates");
  for (auto& x : xs) {
    check(mm::normalize_ticker(x) == x, "tickers normalized");
    check(allow == nullptr || allow->matches(x), "tickers allowed");
  }
}

void check_session(const std::vector<std::string>& tickers,
                   const mm::session_options& opts, const mm::node_config& cfg,
                   const mm::ticker_patterns* allow) {
  check(!tickers.empty(), "a session has a ticker");
  check(tickers.size() <= cfg.max_tickers_per_session,
        "at most --max-tickers-per-session");
  check_tickers(tickers, allow);
  check(opts.max_batch >= 1 && opts.max_batch <= cfg.max_batch,
        "max_batch resolved within the limit");
  check(opts.flush_interval_ms <= cfg.max_flush_interval_ms,
        "flush interval within the limit");
  check(opts.mode == mm::delivery_mode::conflate || opts.max_frequency_hz == 0,
        "max_frequency_hz only with CONFLATE");
  check(opts.resume_from.size() <= tickers.size(),
        "at most one position per ticker");
  for (auto& p : opts.resume_from)
    check(std::binary_search(tickers.begin(), tickers.end(), p.ticker),
          "positions of the session's tickers");
}

template <class Request, class Check>
void run(const uint8_t* data, size_t size, Check fn) {
  Request req;
  if (!req.ParseFromArray(data, static_cast<int>(size)))
    return;
  auto first = fn(req);
  auto again = fn(req);
  check(first.error_code() == again.error_code()
          && first.error_message() == again.error_message(),
        "same verdict twice");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const mm::node_config cfg = [] {
    mm::node_config x;
    x.max_tickers_per_session = 8;
    x.max_batch = 100;
    x.max_flush_interval_ms = 1000;
    return x;
  }();
  static const mm::ticker_patterns allowlist = [] {
    mm::ticker_patterns x;
    x.parse("AAPL\nMSFT\nFX.*\nB*\n");
    return x;
  }();
  if (size == 0)
    return 0;
  auto* allow = (data[0] & 4) != 0 ? &allowlist : nullptr;
  auto kind = data[0] % 4;
  ++data;
  --size;
  switch (kind) {
    case 0:
      run<v1::StartPriceMonitoringRequest>(data, size, [&](const auto& req) {
        std::vector<std::string> tickers;
        mm::session_options opts;
        auto st = mm::check_start_request(req, cfg, allow, tickers, opts);
        if (st.ok())
          check_session(tickers, opts, cfg, allow);
        else
          check_refusal(st);
        return st;
      });
      break;
    case 1:
      run<v1::SubscribeRequest>(data, size, [&](const auto& req) {
        std::vector<std::string> tickers;
        mm::session_options opts;
        auto st = mm::check_subscribe_request(req, cfg, allow, tickers, opts);
        if (st.ok())
          check_session(tickers, opts, cfg, allow);
        else
          check_refusal(st);
        return st;
      });
      break;
    case 2:
      run<v1::UpdateSubscriptionRequest>(data, size, [&](const auto& req) {
        std::vector<std::string> add;
        std::vector<std::string> remove;
        auto st = mm::check_update_request(req, allow, add, remove);
        if (st.ok()) {
          check(!add.empty() || !remove.empty(), "an update changes something");
          check_tickers(add, allow);
          check_tickers(remove, nullptr);
        } else {
          check_refusal(st);
        }
        return st;
      });
      break;
    default:
      run<v1::GetLastPricesRequest>(data, size, [&](const auto& req) {
        std::vector<std::string> tickers;
        auto st = mm::check_last_request(req, allow, tickers);
        if (st.ok()) {
          check(!tickers.empty(), "at least one ticker");
          check_tickers(tickers, allow);
        } else {
          check_refusal(st);
        }
        return st;
      });
      break;
  }
  return 0;
}
