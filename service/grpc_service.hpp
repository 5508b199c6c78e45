#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
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

/// A streaming call's place among the starts in flight. Released once its
/// start is answered or refused (at most once; at the latest when the last
/// copy goes), it lets the next call of its method on its queue in: so at
/// most a fixed number of starts wait for the actors, and a burst of new
/// streams waits in gRPC instead of in mailboxes, where a start waits at
/// most 10 s (docs/benchmarks.md, "Starts admitted as they are answered").
class start_slot {
public:
  explicit start_slot(std::function<void()> next) : next_(std::move(next)) {
    // nop
  }
  ~start_slot() {
    release();
  }
  start_slot(const start_slot&) = delete;
  start_slot& operator=(const start_slot&) = delete;

  void release() {
    if (!released_.exchange(true))
      next_();
  }

private:
  std::function<void()> next_;
  std::atomic<bool> released_{false};
};

using start_slot_ptr = std::shared_ptr<start_slot>;

/// Whether streaming calls may still be requested: closed before the
/// completion queues shut down, after which no request may reach them.
struct call_admission {
  std::mutex mtx;
  bool open = true;
};

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
                       stream_call& call, const start_slot_ptr& slot);

  void subscribe(const marketmonitor::v1::SubscribeRequest& req,
                 stream_call& call, const start_slot_ptr& slot);

  /// Shared with every start slot: see `call_admission`.
  const std::shared_ptr<call_admission>& admission() const {
    return admission_;
  }

  /// No streaming call is requested any more (before the queues stop).
  void stop_admission();

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
  std::shared_ptr<call_admission> admission_ =
    std::make_shared<call_admission>();
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
  /// checks it; call before `start`. Fails with `ec::bad_config` and what
  /// is wrong (see `text_of`; a bad flag: mm-server exits 2).
  caf::error configure_security();

  /// Serves on the node's `grpc_listen` address. Fails with
  /// `ec::bad_config` and what went wrong (the address cannot be bound).
  caf::error start();

  /// Rereads the TLS files and the token key (SIGHUP). What fails to load
  /// keeps its old version; fails with `ec::bad_config` and what went wrong
  /// (both, joined by "; ", if both failed). Open connections and streams
  /// are not touched.
  caf::error reload_security();

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
