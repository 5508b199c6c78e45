#pragma once

// What the inspector tells the shell: plain structs that cross the network
// (the shell is another CAF node), each with an `inspect` overload, and the
// errors of the admin endpoint.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>
#include <caf/meta/type_name.hpp>

#include "actors/price_update.hpp"
#include "actors/session_options.hpp"

namespace mm {

/// Errors of the admin endpoint. They never reach gRPC clients, so they live
/// apart from `ec` (whose every code maps to a gRPC status).
enum class admin_ec : uint8_t {
  none = 0,
  /// The request carried a secret that is not the node's admin secret.
  secret_rejected,
  /// No broadcaster runs for the ticker (nobody subscribes to it).
  unknown_ticker,
  /// A malformed argument, e.g. a ticker that is not one.
  bad_argument,
};

/// Returns the name of `x`.
const char* to_string(admin_ec x);

/// The answer to `stats`: the keys of `stats` in docs/api.md.
struct node_stats {
  int64_t sessions = 0;
  int64_t streams = 0;
  int64_t broadcasters = 0;
  int64_t redis_subscriptions = 0;
  uint64_t actors_running = 0;
  uint64_t sessions_created_total = 0;
  /// Ended sessions by exit reason (the registry's count).
  std::map<std::string, uint64_t> sessions_ended_total;
  uint64_t ticks_received_total = 0;
  uint64_t ticks_malformed_total = 0;
  uint64_t updates_delivered_total = 0;
  uint64_t updates_conflated_total = 0;
  uint64_t batches_sent_total = 0;
  bool redis_connected = false;
  int64_t uptime_ms = 0;
  /// Updates kept for resuming sessions (all broadcasters and relays) and
  /// an estimate of their memory.
  int64_t history_entries = 0;
  int64_t history_bytes = 0;
  /// What the health service says, and why not while not serving.
  bool serving = true;
  std::string health_reason;
};

/// One session as it describes itself. Times are ages in milliseconds as the
/// session saw them (-1: never), so the shell's clock does not matter.
struct session_info {
  std::string id;
  std::vector<std::string> tickers;
  session_options opts;
  bool stream_attached = false;
  /// The client's address as gRPC reports it; empty without a stream.
  std::string peer;
  bool write_in_flight = false;
  /// Updates written to the stream.
  uint64_t delivered = 0;
  /// Updates replaced by newer ones while waiting (CONFLATE).
  uint64_t conflated = 0;
  /// Updates waiting for the next write.
  uint64_t pending = 0;
  uint64_t batches = 0;
  int64_t age_ms = 0;
  /// When the session started, in ns on the node's clock: orders sessions
  /// exactly, where ages taken one after the other may not.
  int64_t created_ns = 0;
  int64_t last_update_ms = -1;
  int64_t last_write_ms = -1;
};

/// One ticker as its broadcaster describes itself.
struct ticker_info {
  std::string ticker;
  uint64_t subscribers = 0;
  /// Subscribers on other nodes (edges' relays, shells watching the ticker).
  uint64_t remote_subscribers = 0;
  /// The remote subscribers by node: the edge's address where the hub knows
  /// it (an edge said hello), otherwise "node " + the CAF node id.
  std::map<std::string, uint64_t> remote_by_node;
  uint64_t seq = 0;
  /// The last update, if any (at most one element).
  std::vector<price_update> last;
  /// Age of the last update in milliseconds (-1: none yet).
  int64_t last_update_ms = -1;
  /// Ticks over the last 10 seconds, oldest second first (10 entries; the
  /// last one is the current, partial second).
  std::vector<uint32_t> per_second;
  /// The sequence epoch `seq` counts in.
  uint64_t epoch = 0;
  /// Whether its upstream (Redis on a hub or standalone node, the hub's
  /// broadcaster on an edge) is connected now.
  bool upstream_connected = false;
  /// Updates kept for resuming sessions.
  uint64_t history = 0;
};

/// The feed health of one ticker (GetLastPrices).
struct ticker_health {
  std::string ticker;
  /// The last update, if any (at most one element).
  std::vector<price_update> last;
  /// Age of the last tick in milliseconds (-1: none yet).
  int64_t last_tick_age_ms = -1;
  /// Whether its upstream (Redis, or the hub on an edge) is connected now.
  bool upstream_connected = false;
};

/// The health of a publisher's feed (a broadcaster's or a relay's) for
/// `ticker`: `last` its last update if any, which came at `last_tick_at`.
ticker_health
make_ticker_health(std::string ticker, std::vector<price_update> last,
                   std::chrono::steady_clock::time_point last_tick_at,
                   std::chrono::steady_clock::time_point now,
                   bool upstream_connected);

/// One node of a cluster as `nodes` shows it.
struct node_info {
  /// "standalone", "hub" or "edge".
  std::string role;
  /// Where others reach it: a hub's cluster address, an edge's (and a
  /// standalone node's) gRPC address.
  std::string address;
  std::string admin;
  /// CAF's node id ("HOST_HASH#PID").
  std::string node_id;
  /// Unix milliseconds of the node's start (0: unknown).
  int64_t up_since_ms = 0;
  int64_t sessions = 0;
  /// Edge: its relays; hub: relays of edges subscribed at its broadcasters.
  int64_t relays = 0;
  int64_t broadcasters = 0;
  /// As the asking node sees it: "self", "connected", "connecting" or
  /// "refused: ..." (an edge's view of a hub).
  std::string state;
};

/// The running actors of a node by kind.
struct actor_counts {
  /// Sessions the registry knows.
  int64_t sessions = 0;
  int64_t broadcasters = 0;
  /// Remote subscribers at broadcasters (watching shells).
  uint64_t watchers = 0;
  /// 1 while the node's singleton actor runs, 0 once it is gone.
  uint32_t registry = 0;
  uint32_t directory = 0;
  uint32_t listener = 0;
  uint32_t inspector = 0;
  /// Every running actor, as CAF's actor registry counts them.
  uint64_t total = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_stats& x) {
  return f(caf::meta::type_name("node_stats"), x.sessions, x.streams,
           x.broadcasters, x.redis_subscriptions, x.actors_running,
           x.sessions_created_total, x.sessions_ended_total,
           x.ticks_received_total, x.ticks_malformed_total,
           x.updates_delivered_total, x.updates_conflated_total,
           x.batches_sent_total, x.redis_connected, x.uptime_ms,
           x.history_entries, x.history_bytes, x.serving, x.health_reason);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, session_info& x) {
  return f(caf::meta::type_name("session_info"), x.id, x.tickers, x.opts,
           x.stream_attached, x.peer, x.write_in_flight, x.delivered,
           x.conflated, x.pending, x.batches, x.age_ms, x.created_ns,
           x.last_update_ms, x.last_write_ms);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ticker_info& x) {
  return f(caf::meta::type_name("ticker_info"), x.ticker, x.subscribers,
           x.remote_subscribers, x.remote_by_node, x.seq, x.last,
           x.last_update_ms, x.per_second, x.epoch, x.upstream_connected,
           x.history);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ticker_health& x) {
  return f(caf::meta::type_name("ticker_health"), x.ticker, x.last,
           x.last_tick_age_ms, x.upstream_connected);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_info& x) {
  return f(caf::meta::type_name("node_info"), x.role, x.address, x.admin,
           x.node_id, x.up_since_ms, x.sessions, x.relays, x.broadcasters,
           x.state);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, actor_counts& x) {
  return f(caf::meta::type_name("actor_counts"), x.sessions, x.broadcasters,
           x.watchers, x.registry, x.directory, x.listener, x.inspector,
           x.total);
}

} // namespace mm

CAF_ERROR_CODE_ENUM(mm::admin_ec, "mm_admin")
