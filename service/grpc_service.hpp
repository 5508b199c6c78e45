#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <grpcpp/server.h>

#include <caf/fwd.hpp>

#include "marketmonitor/v1/market_monitor.grpc.pb.h"
#include "service/grpc_settings.hpp"

namespace mm {

class authenticator;
class health_watch;
class tls_credentials;
class node;
class completion_queues;
class flush_clock;
class stream_call;
class rate_limiter;
class ticker_patterns;

/// The service's base: the two streaming methods on gRPC's completion-queue
/// API (see `completion_queues`), the unary ones on the callback API.
/// (Marking a method async after it was marked callback would keep its
/// callback handler, so the four unary methods are listed one by one.)
using market_monitor_base =
  marketmonitor::v1::MarketMonitor::WithAsyncMethod_StreamPriceUpdates<
    marketmonitor::v1::MarketMonitor::WithAsyncMethod_Subscribe<
      marketmonitor::v1::MarketMonitor::WithCallbackMethod_StartPriceMonitoring<
        marketmonitor::v1::MarketMonitor::WithCallbackMethod_UpdateSubscription<
          marketmonitor::v1::MarketMonitor::
            WithCallbackMethod_StopPriceMonitoring<
              marketmonitor::v1::MarketMonitor::
                WithCallbackMethod_GetLastPrices<
                  marketmonitor::v1::MarketMonitor::Service>>>>>>;

/// The MarketMonitor service: checks each request, turns it into messages to
/// the node's actors and their replies or errors into responses and status.
/// Reactions never block: actors are asked through short-lived actors.
class market_monitor_service final : public market_monitor_base {
public:
  market_monitor_service(caf::actor_system& sys, node& n, flush_clock& clock,
                         const authenticator& auth);
  ~market_monitor_service() override;

  grpc::ServerUnaryReactor* StartPriceMonitoring(
    grpc::CallbackServerContext* ctx,
    const marketmonitor::v1::StartPriceMonitoringRequest* req,
    marketmonitor::v1::StartPriceMonitoringResponse* resp) override;

  grpc::ServerUnaryReactor* UpdateSubscription(
    grpc::CallbackServerContext* ctx,
    const marketmonitor::v1::UpdateSubscriptionRequest* req,
    marketmonitor::v1::UpdateSubscriptionResponse* resp) override;

  grpc::ServerUnaryReactor* StopPriceMonitoring(
    grpc::CallbackServerContext* ctx,
    const marketmonitor::v1::StopPriceMonitoringRequest* req,
    marketmonitor::v1::StopPriceMonitoringResponse* resp) override;

  grpc::ServerUnaryReactor*
  GetLastPrices(grpc::CallbackServerContext* ctx,
                const marketmonitor::v1::GetLastPricesRequest* req,
                marketmonitor::v1::GetLastPricesResponse* resp) override;

  /// Asks gRPC for calls of both streaming methods on every queue of `cqs`
  /// (after the server started, before the queues' threads run). A client
  /// that stops reading gets `keepalive_timeout` to take the write in
  /// flight after its session ended.
  void serve_streams(completion_queues& cqs,
                     std::chrono::milliseconds keepalive_timeout);

  // --- the streaming methods, called when a call arrived -------------------

  void
  stream_price_updates(const marketmonitor::v1::StreamPriceUpdatesRequest& req,
                       stream_call& call);

  void subscribe(const marketmonitor::v1::SubscribeRequest& req,
                 stream_call& call);

private:
  /// --start-rate: RESOURCE_EXHAUSTED once `client` used up its bucket.
  grpc::Status check_rate(const std::string& client);

  caf::actor_system& sys_;
  node& node_;
  flush_clock& clock_;
  const authenticator& auth_;
  std::unique_ptr<rate_limiter> limiter_;
  /// --ticker-allowlist (null: none).
  std::unique_ptr<ticker_patterns> allowlist_;
};

/// The node's gRPC front: the MarketMonitor service, the health service and
/// server reflection on one port, with the keepalive settings of `grpc` so
/// that vanished peers are found, and `grpc_queues` completion queues (one
/// thread each) for the streams.
class grpc_front {
public:
  grpc_front(caf::actor_system& sys, node& n, const grpc_settings& grpc);
  ~grpc_front();
  grpc_front(const grpc_front&) = delete;
  grpc_front& operator=(const grpc_front&) = delete;

  /// Loads what the security flags name (TLS files, the token key) and
  /// checks it; call before `start`. Returns an empty string on success,
  /// otherwise what is wrong (a bad flag: mm-server exits 2).
  std::string configure_security();

  /// Serves on the node's `grpc_listen` address. Returns an empty string on
  /// success, otherwise what went wrong.
  std::string start();

  /// Rereads the TLS files and the token key (SIGHUP). What fails to load
  /// keeps its old version; returns what went wrong, or an empty string.
  /// Open connections and streams are not touched.
  std::string reload_security();

  /// The address actually bound (with port 0, the port the system picked).
  const std::string& address() const {
    return address_;
  }

  /// Stops accepting calls, reports NOT_SERVING on the health service and
  /// waits for running calls until `deadline`, then cancels what is left.
  void shutdown(std::chrono::system_clock::time_point deadline);

private:
  node& node_;
  grpc_settings grpc_;
  std::unique_ptr<authenticator> auth_;
  std::unique_ptr<tls_credentials> tls_;
  std::unique_ptr<flush_clock> clock_;
  std::unique_ptr<market_monitor_service> service_;
  std::unique_ptr<completion_queues> queues_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<health_watch> health_;
  std::string address_;
};

} // namespace mm
