#pragma once

#include <string>

#include <caf/fwd.hpp>

#include "actors/interfaces.hpp"

namespace mm {

struct node_config;
struct metrics;

/// Spawns the broadcaster of `ticker`: stamps `seq`, keeps the last update,
/// fans each tick out to its subscribers (one shared message for all of
/// them), monitors them and forgets the ones that go down. With no
/// subscribers for `cfg.linger_ms` it exits. `cfg` and `m` must outlive it.
/// Ticks and upstream state are taken from `listener` only (null, in unit
/// tests: from any actor of this node); another node may only subscribe
/// its own actors and ask last and health (actors/peer_guard.hpp).
ticker_broadcaster_actor
spawn_ticker_broadcaster(caf::actor_system& sys, std::string ticker,
                         const node_config& cfg, metrics& m,
                         const caf::actor_addr& listener);
ticker_broadcaster_actor spawn_ticker_broadcaster(caf::actor_system& sys,
                                                  std::string ticker,
                                                  const node_config& cfg,
                                                  metrics& m);

} // namespace mm
