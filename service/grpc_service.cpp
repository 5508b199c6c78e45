#include "service/grpc_service.hpp"

#include <algorithm>
#include <utility>
#include <vector>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include <caf/actor_system.hpp>
#include <caf/error.hpp>
#include <caf/sec.hpp>

#include "actors/errors.hpp"
#include "actors/host_port.hpp"
#include "actors/interfaces.hpp"
#include "actors/messages.hpp"
#include "actors/node.hpp"
#include "actors/session_options.hpp"
#include "actors/ticker_patterns.hpp"
#include "actors/tickers.hpp"
#include "logging/log.hpp"
#include "service/ask.hpp"
#include "service/auth.hpp"
#include "service/caller.hpp"
#include "service/completion_queues.hpp"
#include "service/flush_clock.hpp"
#include "service/health_watch.hpp"
#include "service/rate_limiter.hpp"
#include "service/request_checks.hpp"
#include "service/rpc_metrics.hpp"
#include "service/status.hpp"
#include "service/stream_bridge.hpp"
#include "service/stream_call.hpp"
#include "service/tls_files.hpp"

namespace mm {

namespace v1 = marketmonitor::v1;

namespace {

using grpc::StatusCode;

/// How long an actor may take to answer one request of a call.
constexpr auto max_request_time = std::chrono::seconds{10};

/// The time an actor has to answer: the call's own deadline if it is sooner.
caf::timespan request_timeout(const grpc::ServerContextBase* ctx) {
  auto left = ctx->deadline() - std::chrono::system_clock::now();
  auto t = std::min<std::chrono::system_clock::duration>(left,
                                                         max_request_time);
  return std::max<caf::timespan>(std::chrono::duration_cast<caf::timespan>(t),
                                 std::chrono::milliseconds{1});
}

/// The status for a failed request of a unary call.
grpc::Status call_status(const grpc::ServerContextBase* ctx,
                         const caf::error& err) {
  if (err == caf::sec::request_timeout
      && ctx->deadline() <= std::chrono::system_clock::now())
    return {StatusCode::DEADLINE_EXCEEDED, "deadline exceeded"};
  return to_status(err);
}

/// The status for a failed request to a node-wide actor (registry, directory):
/// one that is gone means the node is going down, not a lost session.
grpc::Status node_status(const caf::error& err) {
  if (err == caf::sec::request_receiver_down)
    return {StatusCode::UNAVAILABLE, "server shutting down"};
  return to_status(err);
}

grpc::Status node_call_status(const grpc::ServerContextBase* ctx,
                              const caf::error& err) {
  if (err == caf::sec::request_receiver_down)
    return node_status(err);
  return call_status(ctx, err);
}

/// Counts a refusal by --ticker-allowlist among the failed checks.
grpc::Status counted(grpc::Status st, metrics& m) {
  if (st.error_code() == StatusCode::PERMISSION_DENIED)
    metrics::add(m.ticker_not_allowed_total);
  return st;
}

/// The error continuation of a unary call whose request went to a session
/// (`node_wide` false) or to the registry or directory.
auto fail_call(grpc::CallbackServerContext* ctx,
               grpc::ServerUnaryReactor* reactor, bool node_wide) {
  return [ctx, reactor, node_wide](caf::error& err) {
    reactor->Finish(node_wide ? node_call_status(ctx, err)
                              : call_status(ctx, err));
  };
}

/// The info line of a session start (--log-sessions); its end is the
/// registry's line.
void log_start(const std::string& id, const std::string& peer,
               const std::string& identity, size_t tickers, const char* rpc) {
  if (identity.empty())
    log::info(
      "session", "started",
      {{"session", id}, {"peer", peer}, {"tickers", tickers}, {"rpc", rpc}});
  else
    log::info("session", "started",
              {{"session", id},
               {"peer", peer},
               {"identity", identity},
               {"tickers", tickers},
               {"rpc", rpc}});
}

grpc::Status no_session_id() {
  return {StatusCode::NOT_FOUND, "no session id given"};
}

/// Finds the session `id` of `owner` at `registry`, then calls
/// `with_session` with it; failures of the lookup finish `reactor`.
template <class F>
void with_session(caf::actor_system& sys,
                  const session_registry_actor& registry,
                  grpc::CallbackServerContext* ctx,
                  grpc::ServerUnaryReactor* reactor, const std::string& id,
                  const std::string& owner, F with_session) {
  ask(sys, registry, request_timeout(ctx), find_atom_v, id, owner)
    .then([with_session](
            const session_actor& session) { with_session(session); },
          fail_call(ctx, reactor, true));
}

/// How many calls of each streaming method each queue keeps requested, and
/// so how many of their starts may be in flight (start_slot): a burst of
/// new streams waits in gRPC until a request takes it.
constexpr int requests_per_queue = 32;

/// How a streaming method is requested and served.
template <class Request>
struct stream_method;

template <>
struct stream_method<v1::StreamPriceUpdatesRequest> {
  static void request(market_monitor_service& svc, grpc::ServerContext* ctx,
                      v1::StreamPriceUpdatesRequest* req,
                      grpc::ServerAsyncWriter<v1::PriceBatch>* writer,
                      grpc::ServerCompletionQueue* cq, void* tag) {
    svc.RequestStreamPriceUpdates(ctx, req, writer, cq, cq, tag);
  }
  static void serve(market_monitor_service& svc,
                    const v1::StreamPriceUpdatesRequest& req, stream_call& call,
                    const start_slot_ptr& slot) {
    svc.stream_price_updates(req, call, slot);
  }
};

template <>
struct stream_method<v1::SubscribeRequest> {
  static void request(market_monitor_service& svc, grpc::ServerContext* ctx,
                      v1::SubscribeRequest* req,
                      grpc::ServerAsyncWriter<v1::PriceBatch>* writer,
                      grpc::ServerCompletionQueue* cq, void* tag) {
    svc.RequestSubscribe(ctx, req, writer, cq, cq, tag);
  }
  static void serve(market_monitor_service& svc,
                    const v1::SubscribeRequest& req, stream_call& call,
                    const start_slot_ptr& slot) {
    svc.subscribe(req, call, slot);
  }
};

/// A call of one streaming method: once it arrives, it hands itself to the
/// service with a start slot that requests its successor on the same queue
/// when the start is answered or refused.
template <class Request>
class method_call final : public stream_call {
public:
  method_call(market_monitor_service& svc, grpc::ServerCompletionQueue& cq,
              const stream_bridge::settings& cfg)
    : stream_call(cq, cfg), svc_(svc), cfg_(cfg) {
    // nop
  }

  void request() override {
    notify_when_done();
    stream_method<Request>::request(svc_, &ctx_, &req_, &writer_, &cq_,
                                    &arrived_tag_);
  }

protected:
  bool arrived(bool) override {
    auto next = [&svc = svc_, &cq = cq_, cfg = cfg_,
                 admission = svc_.admission()] {
      std::lock_guard<std::mutex> guard{admission->mtx};
      if (admission->open)
        (new method_call(svc, cq, cfg))->request();
    };
    stream_method<Request>::serve(svc_, req_, *this,
                                  std::make_shared<start_slot>(next));
    // Serving copied what it needs: the request's strings need not live as
    // long as the stream (docs/benchmarks.md, "Memory per session").
    Request{}.Swap(&req_);
    return false;
  }

private:
  market_monitor_service& svc_;
  stream_bridge::settings cfg_;
  Request req_;
};

} // namespace

// --- market_monitor_service --------------------------------------------------

market_monitor_service::market_monitor_service(caf::actor_system& sys, node& n,
                                               flush_clock& clock,
                                               const authenticator& auth)
  : sys_(sys),
    node_(n),
    clock_(clock),
    auth_(auth),
    limiter_(std::make_unique<rate_limiter>(n.config().start_rate,
                                            n.config().start_burst)) {
  if (!n.config().ticker_allowlist.empty())
    allowlist_ = std::make_unique<ticker_patterns>(
      ticker_patterns::from(n.config().ticker_allowlist));
}

market_monitor_service::~market_monitor_service() = default;

grpc::Status market_monitor_service::check_rate(const std::string& client) {
  if (limiter_->allow(client))
    return grpc::Status::OK;
  metrics::add(node_.stats().rate_limited_total);
  auto rate = std::to_string(limiter_->rate());
  auto burst = std::to_string(limiter_->burst());
  return {StatusCode::RESOURCE_EXHAUSTED,
          "rate limit of " + rate + " calls per second (burst " + burst
            + ") reached for this client (--start-rate " + rate
            + ", --start-burst " + burst
            + "): StartPriceMonitoring, Subscribe and UpdateSubscription "
              "calls are limited; retry later"};
}

void market_monitor_service::serve_streams(
  completion_queues& cqs, std::chrono::milliseconds keepalive_timeout) {
  // A client that stops reading gets as long to take the write in flight
  // after its session ended as it gets to answer a keepalive ping.
  stream_bridge::settings cfg{&sys_,
                              &clock_,
                              0,
                              keepalive_timeout,
                              &node_.stats(),
                              std::chrono::milliseconds{
                                node_.config().write_stall_timeout_ms}};
  for (size_t i = 0; i < cqs.size(); ++i) {
    // The flushes of each queue's streams on a clock thread of their own.
    cfg.clock_shard = i;
    for (int j = 0; j < requests_per_queue; ++j) {
      (new method_call<v1::StreamPriceUpdatesRequest>(*this, cqs.at(i), cfg))
        ->request();
      (new method_call<v1::SubscribeRequest>(*this, cqs.at(i), cfg))->request();
    }
  }
}

grpc::ServerUnaryReactor* market_monitor_service::StartPriceMonitoring(
  grpc::CallbackServerContext* ctx, const v1::StartPriceMonitoringRequest* req,
  v1::StartPriceMonitoringResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto auth = auth_.check(*ctx);
  if (!auth.status.ok()) {
    reactor->Finish(auth.status);
    return reactor;
  }
  auto client = auth.who.key();
  std::vector<std::string> tickers;
  session_options opts;
  auto st = check_rate(client);
  if (st.ok())
    st = counted(check_start_request(*req, node_.config(), allowlist_.get(),
                                     tickers, opts),
                 node_.stats());
  if (st.ok())
    st = auth.allows(tickers);
  if (!st.ok()) {
    reactor->Finish(st);
    return reactor;
  }
  auto peer = node_.config().log_sessions ? ctx->peer() : std::string{};
  auto identity = auth.who.identity;
  ask(sys_, node_.registry(), request_timeout(ctx), start_atom_v,
      std::move(tickers), opts, auth.who.identity, std::move(client))
    .then(
      [reactor, resp, peer, identity](
        const std::string& id, const std::vector<std::string>& subscribed) {
        if (!peer.empty())
          log_start(id, peer, identity, subscribed.size(),
                    "StartPriceMonitoring");
        resp->set_session_id(id);
        for (const auto& x : subscribed)
          resp->add_tickers(x);
        reactor->Finish(grpc::Status::OK);
      },
      fail_call(ctx, reactor, true));
  return reactor;
}

void market_monitor_service::stream_price_updates(
  const v1::StreamPriceUpdatesRequest& req, stream_call& call,
  const start_slot_ptr& slot) {
  auto bridge = call.bridge();
  auto auth = auth_.check(call.context());
  if (!auth.status.ok()) {
    bridge->finish(auth.status);
    return;
  }
  if (req.session_id().empty()) {
    bridge->finish(no_session_id());
    return;
  }
  if (auth.expires)
    bridge->expire_at(*auth.expires);
  auto& sys = sys_;
  auto timeout = request_timeout(&call.context());
  ask(sys, node_.registry(), timeout, find_atom_v, req.session_id(),
      auth.who.identity)
    .then(
      [&sys, timeout, bridge, slot](const session_actor& session) {
        ask(sys, session, timeout, attach_atom_v, stream_sink_ptr{bridge})
          .then(
            [bridge, slot] {
              slot->release();
              bridge->attached();
            },
            [bridge, slot](caf::error& err) {
              slot->release();
              bridge->finish(to_status(err));
            });
      },
      [bridge, slot](caf::error& err) {
        slot->release();
        bridge->finish(node_status(err));
      });
}

void market_monitor_service::stop_admission() {
  std::lock_guard<std::mutex> guard{admission_->mtx};
  admission_->open = false;
}

grpc::ServerUnaryReactor* market_monitor_service::UpdateSubscription(
  grpc::CallbackServerContext* ctx, const v1::UpdateSubscriptionRequest* req,
  v1::UpdateSubscriptionResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto auth = auth_.check(*ctx);
  if (!auth.status.ok()) {
    reactor->Finish(auth.status);
    return reactor;
  }
  if (req->session_id().empty()) {
    reactor->Finish(no_session_id());
    return reactor;
  }
  std::vector<std::string> add;
  std::vector<std::string> remove;
  auto st = check_rate(auth.who.key());
  if (st.ok())
    st = counted(check_update_request(*req, allowlist_.get(), add, remove),
                 node_.stats());
  if (st.ok())
    st = auth.allows(add);
  if (!st.ok()) {
    reactor->Finish(st);
    return reactor;
  }
  auto& sys = sys_;
  auto timeout = request_timeout(ctx);
  with_session(sys, node_.registry(), ctx, reactor, req->session_id(),
               auth.who.identity,
               [&sys, timeout, ctx, reactor, resp, add{std::move(add)},
                remove{std::move(remove)}](const session_actor& session) {
                 ask(sys, session, timeout, caf::update_atom_v, add, remove)
                   .then(
                     [reactor, resp](const std::vector<std::string>& tickers) {
                       for (const auto& x : tickers)
                         resp->add_tickers(x);
                       reactor->Finish(grpc::Status::OK);
                     },
                     fail_call(ctx, reactor, false));
               });
  return reactor;
}

grpc::ServerUnaryReactor* market_monitor_service::StopPriceMonitoring(
  grpc::CallbackServerContext* ctx, const v1::StopPriceMonitoringRequest* req,
  v1::StopPriceMonitoringResponse*) {
  auto* reactor = ctx->DefaultReactor();
  auto auth = auth_.check(*ctx);
  if (!auth.status.ok()) {
    reactor->Finish(auth.status);
    return reactor;
  }
  if (req->session_id().empty()) {
    reactor->Finish(no_session_id());
    return reactor;
  }
  auto& sys = sys_;
  auto timeout = request_timeout(ctx);
  with_session(sys, node_.registry(), ctx, reactor, req->session_id(),
               auth.who.identity,
               [&sys, timeout, ctx, reactor](const session_actor& session) {
                 ask(sys, session, timeout, stop_atom_v)
                   .then([reactor] { reactor->Finish(grpc::Status::OK); },
                         fail_call(ctx, reactor, false));
               });
  return reactor;
}

void market_monitor_service::subscribe(const v1::SubscribeRequest& req,
                                       stream_call& call,
                                       const start_slot_ptr& slot) {
  auto bridge = call.bridge();
  auto auth = auth_.check(call.context());
  if (!auth.status.ok()) {
    bridge->finish(auth.status);
    return;
  }
  auto client = auth.who.key();
  std::vector<std::string> tickers;
  session_options opts;
  auto st = check_rate(client);
  if (st.ok())
    st = counted(check_subscribe_request(req, node_.config(), allowlist_.get(),
                                         tickers, opts),
                 node_.stats());
  if (st.ok())
    st = auth.allows(tickers);
  if (!st.ok()) {
    bridge->finish(std::move(st));
    return;
  }
  if (auth.expires)
    bridge->expire_at(*auth.expires);
  auto peer = node_.config().log_sessions ? call.context().peer()
                                          : std::string{};
  auto identity = auth.who.identity;
  ask(sys_, node_.registry(), request_timeout(&call.context()), start_atom_v,
      std::move(tickers), opts, auth.who.identity, std::move(client),
      stream_sink_ptr{bridge})
    .then(
      [bridge, peer, identity, slot](
        const std::string& id, const std::vector<std::string>& subscribed) {
        slot->release();
        if (!peer.empty())
          log_start(id, peer, identity, subscribed.size(), "Subscribe");
        bridge->attached();
      },
      [bridge, slot](caf::error& err) {
        slot->release();
        bridge->finish(node_status(err));
      });
}

grpc::ServerUnaryReactor*
market_monitor_service::GetLastPrices(grpc::CallbackServerContext* ctx,
                                      const v1::GetLastPricesRequest* req,
                                      v1::GetLastPricesResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto auth = auth_.check(*ctx);
  if (!auth.status.ok()) {
    reactor->Finish(auth.status);
    return reactor;
  }
  std::vector<std::string> tickers;
  auto st = counted(check_last_request(*req, allowlist_.get(), tickers),
                    node_.stats());
  if (st.ok())
    st = auth.allows(tickers);
  if (!st.ok()) {
    reactor->Finish(st);
    return reactor;
  }
  ask(sys_, node_.directory(), request_timeout(ctx), health_atom_v,
      std::move(tickers))
    .then(
      [reactor, resp](const std::vector<ticker_health>& xs) {
        for (const auto& x : xs) {
          if (!x.last.empty())
            to_proto(x.last.front(), *resp->add_prices());
          auto* y = resp->add_health();
          y->set_ticker(x.ticker);
          y->set_last_tick_age_ms(x.last_tick_age_ms);
          y->set_upstream_connected(x.upstream_connected);
        }
        reactor->Finish(grpc::Status::OK);
      },
      fail_call(ctx, reactor, true));
  return reactor;
}

// --- grpc_front --------------------------------------------------------------

grpc_front::grpc_front(caf::actor_system& sys, node& n,
                       const grpc_settings& grpc)
  : node_(n),
    grpc_(grpc),
    auth_(std::make_unique<authenticator>()),
    tls_(std::make_unique<tls_credentials>()),
    clock_(std::make_unique<flush_clock>(std::max<size_t>(1, grpc.grpc_queues),
                                         flush_clock::driven)),
    service_(
      std::make_unique<market_monitor_service>(sys, n, *clock_, *auth_)) {
  // nop
}

grpc_front::~grpc_front() {
  if (server_)
    shutdown(std::chrono::system_clock::now());
}

caf::error grpc_front::configure_security() {
  const auto& cfg = node_.config();
  if (auto err = auth_->configure(cfg))
    return err;
  if (!cfg.tls_cert.empty())
    return tls_->start(cfg);
  return caf::none;
}

caf::error grpc_front::reload_security() {
  const auto& cfg = node_.config();
  std::string result;
  auto failed = false;
  auto add = [&](const caf::error& err) {
    if (!err)
      return;
    if (failed)
      result += "; ";
    failed = true;
    result += text_of(err);
  };
  add(auth_->reload());
  if (!cfg.tls_cert.empty())
    add(tls_->reload());
  if (!failed)
    return caf::none;
  return caf::make_error(ec::bad_config, std::move(result));
}

caf::error grpc_front::start() {
  const auto& cfg = node_.config();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(cfg.grpc_listen,
                           cfg.tls_cert.empty()
                             ? grpc::InsecureServerCredentials()
                             : tls_->credentials(),
                           &port);
  builder.RegisterService(service_.get());
  // Without this, a second server could bind the same port and share calls.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Our own pings find vanished clients within time + timeout, also on
  // streams that carry no data for a while.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                             static_cast<int>(grpc_.keepalive_time_ms));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                             static_cast<int>(grpc_.keepalive_timeout_ms));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // Clients may ping as often as once a second without being cut off.
  builder.AddChannelArgument(
    GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
    static_cast<int>(grpc_.min_client_ping_interval_ms));
  if (grpc_.max_connection_idle_ms > 0)
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                               static_cast<int>(grpc_.max_connection_idle_ms));
  if (grpc_.max_connection_age_ms > 0)
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                               static_cast<int>(grpc_.max_connection_age_ms));
  if (grpc_.max_connection_age_grace_ms > 0)
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                               static_cast<int>(
                                 grpc_.max_connection_age_grace_ms));
  builder.SetMaxReceiveMessageSize(static_cast<int>(grpc_.max_request_bytes));
  // gRPC's own limits (docs/security.md): memory for its buffers and its
  // threads, and calls at once per connection.
  if (grpc_.grpc_max_memory_mb > 0 || grpc_.grpc_max_threads > 0) {
    grpc::ResourceQuota quota{"mm-server"};
    if (grpc_.grpc_max_memory_mb > 0)
      quota.Resize(size_t{grpc_.grpc_max_memory_mb} * 1024 * 1024);
    if (grpc_.grpc_max_threads > 0)
      quota.SetMaxThreads(static_cast<int>(grpc_.grpc_max_threads));
    builder.SetResourceQuota(quota);
  }
  if (grpc_.max_concurrent_streams > 0)
    builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                               static_cast<int>(grpc_.max_concurrent_streams));
  std::vector<
    std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
    interceptors;
  interceptors.push_back(make_rpc_counter(node_.stats()));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  queues_ =
    std::make_unique<completion_queues>(builder,
                                        std::max<size_t>(1, grpc_.grpc_queues));
  server_ = builder.BuildAndStart();
  if (!server_ || port == 0) {
    server_.reset();
    queues_.reset();
    return caf::make_error(ec::bad_config,
                           "cannot serve gRPC on " + cfg.grpc_listen
                             + " (address in use or not valid?)");
  }
  service_->serve_streams(*queues_, std::chrono::milliseconds{
                                      grpc_.keepalive_timeout_ms});
  queues_->start(clock_.get());
  // --grpc-listen checked the address (app/options/server_flags.cpp).
  auto at = host_port::parse(cfg.grpc_listen).value_or(host_port{});
  at.port = static_cast<uint16_t>(port);
  address_ = at.to_string();
  if (auto* health = server_->GetHealthCheckService()) {
    health->SetServingStatus(v1::MarketMonitor::service_full_name(), true);
    health_ = std::make_unique<health_watch>(health, node_.stats(), cfg);
  }
  return caf::none;
}

void grpc_front::shutdown(std::chrono::system_clock::time_point deadline) {
  if (!server_)
    return;
  health_.reset();
  if (auto* health = server_->GetHealthCheckService())
    health->Shutdown();
  // Returns once every call is over: the queues' threads keep serving
  // the calls' last events meanwhile. Then the queues drain.
  server_->Shutdown(deadline);
  server_->Wait();
  service_->stop_admission();
  queues_->stop();
  server_.reset();
  queues_.reset();
  clock_->stop();
}

} // namespace mm
