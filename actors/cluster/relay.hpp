#pragma once

// A relay: one per ticker in use on an edge (docs/cluster.md). Internal to
// actors/cluster/.

#include <string>

#include <caf/fwd.hpp>

#include "actors/interfaces.hpp"

namespace mm {

struct metrics;
struct node_config;

/// Spawns the relay of `ticker`. Towards sessions it is a broadcaster (same
/// messages, same monitors, same linger); towards the hub one subscriber,
/// so a tick crosses the network once per edge. It asks `link` (a hub link)
/// `(get_atom, ticker, dead_hint)` for the hub's broadcaster, subscribes
/// there and resubscribes with capped backoff when it is lost;
/// `(move_atom, link)` moves it to another hub (failover). `cfg` and `m`
/// must outlive it.
ticker_relay_actor spawn_relay(caf::actor_system& sys, std::string ticker,
                               hub_link_actor link, const node_config* cfg,
                               metrics* m);

} // namespace mm
