#include "actors/node.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/cluster/node_identity.hpp"
#include "actors/cluster/relay_directory.hpp"
#include "actors/errors.hpp"
#include "actors/inspection.hpp"
#include "actors/inspector.hpp"
#include "actors/interfaces.hpp"
#include "actors/messages.hpp"
#include "actors/redis_listener.hpp"
#include "actors/secret_middleman.hpp"
#include "actors/session_registry.hpp"
#include "actors/ticker_directory.hpp"

namespace mm {

void configure(caf::actor_system_config& cfg) {
  cfg.load<caf::io::middleman>();
  // Off by default in CAF 0.17: then a frozen peer is found only by TCP.
  // With them, a node silent for the timeout is dropped and its proxies are
  // killed with remote_link_unreachable (down_msg for whoever monitors).
  cfg.set("middleman.heartbeat-interval",
          caf::timespan{std::chrono::seconds(1)});
  cfg.set("middleman.connection-timeout",
          caf::timespan{std::chrono::seconds(10)});
  add_message_types(cfg);
  // CAF's work-stealing scheduler (its default, set here on purpose):
  // "sharing" polls less but gave far worse p99 under load
  // (docs/benchmarks.md, "Scheduler policy and worker count").
  cfg.set("scheduler.policy", caf::atom("stealing"));
  // An idle worker polls its queue a few times, then sleeps on its condition
  // variable until a message arrives, skipping CAF's moderate phase of 500
  // sleeps of 50 us: on this project's 2-core VMs a context switch is dear,
  // and those sleeps were 15 % of mm-server's samples at 80k updates/s
  // (docs/benchmarks.md, "Fewer thread wakes").
  cfg.set("work-stealing.aggressive-poll-attempts", size_t{10});
  cfg.set("work-stealing.moderate-poll-attempts", size_t{0});
  // One worker per core, not CAF 0.17's max(cores, 4): on two cores, four
  // polling workers crowded out gRPC's threads and the clients (same
  // section of docs/benchmarks.md).
  cfg.set("scheduler.max-threads",
          size_t{std::max(1u, std::thread::hardware_concurrency())});
}

void configure(caf::actor_system_config& cfg, const node_config& node) {
  configure(cfg);

  if (node.actor_threads > 0)
    cfg.set("scheduler.max-threads", size_t{node.actor_threads});
  cfg.set("middleman.heartbeat-interval",
          caf::timespan{std::chrono::milliseconds(node.heartbeat_interval_ms)});
  cfg.set("middleman.connection-timeout",
          caf::timespan{std::chrono::milliseconds(node.connection_timeout_ms)});
  if (!node.cluster_cert.empty()) {
    cfg.load<caf::openssl::manager>();
    cfg.openssl_certificate = node.cluster_cert;
    cfg.openssl_key = node.cluster_key;
    cfg.openssl_cafile = node.cluster_ca;
  }
}

namespace {

/// What CAF's render shows for an error of one of our categories:
/// `PREFIX::code`, then the error's text in parentheses if it has one.
/// CAF 0.17.6's add_error_category<T> does not compile, hence a renderer.
template <class Enum>
caf::actor_system_config::error_renderer renderer(const char* prefix) {
  return [prefix](uint8_t code, caf::atom_value, const caf::message& ctx) {
    std::string result = prefix;
    result += to_string(static_cast<Enum>(code));
    if (!ctx.empty() && ctx.match_element<std::string>(0)) {
      result += " (";
      result += ctx.get_as<std::string>(0);
      result += ")";
    }
    return result;
  };
}

} // namespace

void add_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::marketmonitor>();
  cfg.add_message_types<caf::id_block::marketmonitor_handles>();
  cfg.add_error_category(caf::atom("mm"), renderer<ec>("mm::"));
  cfg.add_error_category(caf::atom("mm_admin"),
                         renderer<admin_ec>("mm_admin::"));
}

node::node(caf::actor_system& sys, node_config cfg)
  : sys_(sys),
    cfg_(std::make_unique<node_config>(std::move(cfg))),
    metrics_(std::make_unique<metrics>()),
    identity_(std::make_unique<node_identity>(cfg_->role)) {
  // A standalone node has no cluster links (and tests on CAF's
  // test_coordinator have no middleman).
  if (cfg_->role != node_role::standalone) {
    if (!cfg_->cluster_secret.empty()) {
      cluster_mm_ = spawn_secret_middleman(sys_, cfg_->cluster_secret,
                                           std::chrono::milliseconds{
                                             cfg_->connection_timeout_ms});
      own_cluster_mm_ = true;
    } else if (!cfg_->cluster_cert.empty()) {
      cluster_mm_ = sys_.openssl_manager().actor_handle();
    } else {
      cluster_mm_ = sys_.middleman().actor_handle();
    }
  }
  if (cfg_->role == node_role::edge) {
    // The relay directory answers every request of ticker_directory_actor
    // (relay_directory_actor extends it: actors/interfaces.hpp).
    relay_directory_ = spawn_relay_directory(sys_, *cfg_, *metrics_, *identity_,
                                             cluster_mm_);
    directory_ = relay_directory_;
  } else {
    listener_ = spawn_redis_listener(sys_, *cfg_, *metrics_);
    directory_ = spawn_ticker_directory(sys_, listener_, *cfg_, *metrics_,
                                        identity_.get());
  }
  registry_ = spawn_session_registry(sys_, directory_, *cfg_, *metrics_);
  inspector_ = spawn_inspector(sys_, *this);
}

node::~node() {
  // The registry ends its sessions on its way out. Every actor of the node
  // references cfg_ and metrics_, so wait until all of them are gone. From
  // a named local actor: network-reachable actors take no anonymous exit
  // (actors/peer_guard.hpp).
  {
    caf::scoped_actor self{sys_};
    auto stop = [&](const auto& hdl) {
      if (hdl)
        self->send_exit(hdl, caf::exit_reason::user_shutdown);
    };
    stop(inspector_);
    stop(registry_);
    stop(directory_);
    stop(listener_);
  }
  sys_.await_all_actors_done();
  // Hidden, so not awaited above; its challenge thread ends with it.
  if (own_cluster_mm_) {
    caf::scoped_actor self{sys_};
    self->send_exit(cluster_mm_, caf::exit_reason::kill);
    self->wait_for(cluster_mm_);
  }
}

void node::announce(std::string address, std::string admin) {
  identity_->set_addresses(std::move(address), std::move(admin));
  if (relay_directory_) {
    caf::scoped_actor self{sys_};
    self->send(relay_directory_, start_atom::value);
  }
}

void node::shutdown() {
  metrics_->shutting_down = true;
  caf::anon_send(registry_, shutdown_atom::value);
}

} // namespace mm
