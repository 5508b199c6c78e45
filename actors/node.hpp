#pragma once

#include <memory>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>
#include <caf/io/middleman_actor.hpp>

#include "actors/cluster/node_identity.hpp"
#include "actors/interfaces.hpp"
#include "actors/metrics.hpp"
#include "actors/node_config.hpp"

namespace mm {

/// Adds our message types and error category to `cfg` (enough for actor
/// tests on CAF's test_coordinator).
void add_message_types(caf::actor_system_config& cfg);

/// Adds what every marketmonitor actor system needs to `cfg`: our message
/// types, our error categories and CAF's io module with BASP heartbeats, so
/// that a lost peer node (a shell, a cluster member) is noticed even when
/// TCP does not notice.
void configure(caf::actor_system_config& cfg);

/// Like `configure(cfg)` with the cluster settings of `node`: BASP
/// heartbeat interval and connection timeout (a silent peer is dropped
/// within timeout + interval) and, with a certificate, CAF's OpenSSL module.
void configure(caf::actor_system_config& cfg, const node_config& node);

/// The actors of one node, with the node's config and counters that they
/// share. Standalone and hub: redis listener, ticker directory and session
/// registry (idle on a hub: it serves no gRPC). Edge: a relay directory in
/// place of listener and ticker directory (`listener()` is null).
class node {
public:
  node(caf::actor_system& sys, node_config cfg);
  ~node();
  node(const node&) = delete;
  node& operator=(const node&) = delete;

  const node_config& config() const {
    return *cfg_;
  }
  metrics& stats() {
    return *metrics_;
  }
  const redis_listener_actor& listener() const {
    return listener_;
  }
  /// The ticker directory, or on an edge the relay directory.
  const ticker_directory_actor& directory() const {
    return directory_;
  }
  const session_registry_actor& registry() const {
    return registry_;
  }
  /// Answers the shell; publish it on the admin endpoint.
  const inspector_actor& inspector() const {
    return inspector_;
  }
  /// The middleman actor of the node's cluster links (connect, publish):
  /// the one of --cluster-secret-file, CAF's OpenSSL one with TLS, else
  /// CAF's own. Null on a standalone node.
  const caf::io::middleman_actor& cluster_middleman() const {
    return cluster_mm_;
  }
  /// What the node tells its cluster peers about itself.
  node_identity& identity() {
    return *identity_;
  }

  /// Sets the addresses the node tells its cluster peers; an edge connects
  /// to its hubs from then on (a hub learns the edge's address at hello).
  void announce(std::string address, std::string admin);

  /// Ends every session with ec::shutting_down and refuses new ones.
  void shutdown();

private:
  caf::actor_system& sys_;
  std::unique_ptr<node_config> cfg_;
  std::unique_ptr<metrics> metrics_;
  std::unique_ptr<node_identity> identity_;
  redis_listener_actor listener_;
  ticker_directory_actor directory_;
  /// On an edge the same actor as directory_, with its start (announce).
  relay_directory_actor relay_directory_;
  session_registry_actor registry_;
  inspector_actor inspector_;
  caf::io::middleman_actor cluster_mm_;
  /// Whether cluster_mm_ is ours (--cluster-secret-file) and ends with us.
  bool own_cluster_mm_ = false;
};

} // namespace mm
