#pragma once

#include <caf/fwd.hpp>

namespace mm {

struct node_config;
struct metrics;

/// Spawns the ticker directory: maps tickers to their broadcasters, spawns a
/// broadcaster on first demand and tells `listener` to watch it; monitors the
/// broadcasters and forgets the ones that end. `cfg` and `m` must outlive it.
caf::actor spawn_ticker_directory(caf::actor_system& sys, caf::actor listener,
                                  const node_config& cfg, metrics& m);

} // namespace mm
