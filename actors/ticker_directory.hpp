#pragma once

#include <caf/fwd.hpp>

namespace mm {

struct node_config;
struct metrics;
class node_identity;

/// Spawns the ticker directory: maps tickers to their broadcasters, spawns a
/// broadcaster on first demand and tells `listener` to watch it; monitors the
/// broadcasters and forgets the ones that end. On a hub it also answers
/// edges (hello, node, nodes; see messages.hpp) and `id` describes the node.
/// `cfg`, `m` and `id` must outlive it.
caf::actor spawn_ticker_directory(caf::actor_system& sys, caf::actor listener,
                                  const node_config& cfg, metrics& m,
                                  const node_identity* id = nullptr);

} // namespace mm
