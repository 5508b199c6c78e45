#pragma once

#include <memory>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

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

/// The actors of one standalone node: redis listener, ticker directory and
/// session registry, with the node's config and counters that they share.
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
  const caf::actor& listener() const {
    return listener_;
  }
  const caf::actor& directory() const {
    return directory_;
  }
  const caf::actor& registry() const {
    return registry_;
  }
  /// Answers the shell; publish it on the admin endpoint.
  const caf::actor& inspector() const {
    return inspector_;
  }

  /// Ends every session with ec::shutting_down and refuses new ones.
  void shutdown();

private:
  caf::actor_system& sys_;
  std::unique_ptr<node_config> cfg_;
  std::unique_ptr<metrics> metrics_;
  caf::actor listener_;
  caf::actor directory_;
  caf::actor registry_;
  caf::actor inspector_;
};

} // namespace mm
