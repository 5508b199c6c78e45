#pragma once

#include <caf/fwd.hpp>

#include "actors/interfaces.hpp"

namespace mm {

class node;
class node_identity;
struct metrics;
struct node_config;

/// What the inspector answers from: a node's actors, config, counters and
/// identity. Each must outlive the inspector.
struct inspected {
  const node_config* cfg = nullptr;
  metrics* stats = nullptr;
  const node_identity* identity = nullptr;
  session_registry_actor registry;
  ticker_directory_actor directory;
  /// Null on an edge (it has no Redis listener).
  redis_listener_actor listener;
};

/// Spawns the inspector of `n`: answers the shell (`stats`, `sessions`,
/// `tickers`, `kill`, `watch`, ...) from the node's live actors; the protocol
/// is in actors/interfaces.hpp. Every request must carry the node's admin
/// secret. It monitors the node's registry, directory and listener (they
/// live as long as it does) to report whether they still run. `n` must
/// outlive it.
inspector_actor spawn_inspector(caf::actor_system& sys, node& n);

/// The same over `parts` (tests give their own actors).
inspector_actor spawn_inspector(caf::actor_system& sys, const inspected& parts);

} // namespace mm
