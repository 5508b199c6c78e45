#pragma once

#include <string>

#include <caf/fwd.hpp>

namespace mm {

struct node_config;
struct metrics;

/// Spawns the broadcaster of `ticker`: stamps `seq`, keeps the last update,
/// fans each tick out to its subscribers (one shared message for all of
/// them), monitors them and forgets the ones that go down. With no
/// subscribers for `cfg.linger_ms` it exits. `cfg` and `m` must outlive it.
caf::actor spawn_ticker_broadcaster(caf::actor_system& sys, std::string ticker,
                                    const node_config& cfg, metrics& m);

} // namespace mm
