#pragma once

#include <string>
#include <vector>

#include <grpcpp/support/status.h>

#include "marketmonitor/v1/market_monitor.pb.h"

namespace mm {

struct node_config;
struct session_options;
class ticker_patterns;

/// The checks that turn a request into a gRPC error before any actor sees
/// it: tickers (normalized, sorted, duplicates folded; at least one, at
/// most --max-tickers-per-session), options, resume positions, and
/// --ticker-allowlist (`allow`: null when there is none). Pure functions:
/// the fuzz target (tests/fuzz/request_checks_fuzz.cpp) calls them.

grpc::Status
check_start_request(const marketmonitor::v1::StartPriceMonitoringRequest& req,
                    const node_config& cfg, const ticker_patterns* allow,
                    std::vector<std::string>& tickers, session_options& opts);

grpc::Status
check_subscribe_request(const marketmonitor::v1::SubscribeRequest& req,
                        const node_config& cfg, const ticker_patterns* allow,
                        std::vector<std::string>& tickers,
                        session_options& opts);

/// Also checks that there is something to add or remove (the session id
/// is checked by the caller).
grpc::Status
check_update_request(const marketmonitor::v1::UpdateSubscriptionRequest& req,
                     const ticker_patterns* allow,
                     std::vector<std::string>& add,
                     std::vector<std::string>& remove);

grpc::Status
check_last_request(const marketmonitor::v1::GetLastPricesRequest& req,
                   const ticker_patterns* allow,
                   std::vector<std::string>& tickers);

/// PERMISSION_DENIED naming the first of `tickers` (normalized) that
/// `allow` does not match; OK if all match or `allow` is null.
grpc::Status check_allowed(const std::vector<std::string>& tickers,
                           const ticker_patterns* allow);

} // namespace mm
