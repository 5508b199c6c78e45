#pragma once

// Cluster roles over CAF networking (docs/cluster.md): a hub publishes its
// ticker directory; an edge answers its sessions with a relay directory whose
// relays subscribe once per ticker at the hub that owns the ticker.

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "actors/inspection.hpp"
#include "actors/node_config.hpp"

namespace mm {

struct metrics;

/// The version of the messages nodes exchange. Bump it whenever a type that
/// crosses nodes (messages.hpp, inspection.hpp, price_update.hpp) or the
/// cluster protocol changes: nodes of different versions refuse each other.
constexpr uint32_t cluster_protocol_version = 2;

/// The protocol version `cfg` claims (tests may override it).
uint32_t protocol_of(const node_config& cfg);

/// Returns the name of `x`: "standalone", "hub" or "edge".
const char* to_string(node_role x);

/// Rendezvous (highest random weight) hashing: the index of the hub in
/// `hubs` that owns `ticker`. The same on every node and every platform
/// (FNV-1a plus a fixed mixer), so each ticker has exactly one hub.
size_t owner_of(const std::string& ticker,
                const std::vector<std::string>& hubs);

/// All hubs in rendezvous order for `ticker`: indexes into `hubs`, highest
/// weight first (the first is `owner_of`). Failover walks down this list.
std::vector<size_t> rendezvous_order(const std::string& ticker,
                                     const std::vector<std::string>& hubs);

/// The hub that serves `ticker` while `alive[i]` says whether `hubs[i]` is
/// up: the first alive hub in rendezvous order, or the owner when none is
/// (docs/cluster.md, "Failover"). Every edge that considers the same hubs
/// alive routes every ticker to the same hub.
size_t route_of(const std::string& ticker, const std::vector<std::string>& hubs,
                const std::vector<bool>& alive);

/// What a node tells others about itself. Addresses are known only once the
/// node listens, after its actors started, hence the lock.
class node_identity {
public:
  explicit node_identity(node_role role);

  /// Sets the addresses that `describe` reports.
  void set_addresses(std::string address, std::string admin);

  /// This node as `nodes` shows it, with the counters of `m`.
  node_info describe(const caf::actor_system& sys, const metrics& m) const;

private:
  node_role role_;
  int64_t up_since_ms_;
  mutable std::mutex mtx_;
  std::string address_;
  std::string admin_;
};

/// Spawns an edge's relay directory: the `directory` of its sessions and of
/// GetLastPrices. Answers `(get_atom, ticker, dead_hint)` with a local relay
/// per ticker, which subscribes at the broadcaster of the hub `route_of`
/// picks, and moves it when that hub is lost or returns; spawns one
/// hub link per `cfg.hubs` entry once told `(start_atom)` (node::announce).
/// The links connect through the middleman actor `via` (CAF's
/// `io::middleman_actor` interface: CAF's own, its OpenSSL one, or the
/// cluster-secret one). `cfg`, `m` and `id` must outlive it.
caf::actor spawn_relay_directory(caf::actor_system& sys, const node_config& cfg,
                                 metrics& m, const node_identity& id,
                                 caf::actor via);

/// For tests: the same with `links` (one per `cfg.hubs` entry, same order)
/// in place of hub links; they answer the relays' `(get_atom, ticker,
/// dead_hint)`, and the test tells the directory `(hub_atom, address, up)`
/// as a link does.
caf::actor spawn_relay_directory(caf::actor_system& sys, const node_config& cfg,
                                 metrics& m, const node_identity& id,
                                 std::vector<caf::actor> links);

} // namespace mm
