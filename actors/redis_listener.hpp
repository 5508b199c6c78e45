#pragma once

#include <caf/fwd.hpp>

#include "actors/interfaces.hpp"

namespace mm {

struct node_config;
struct metrics;

/// Spawns the redis listener: a CAF io broker that owns the one subscriber
/// connection to Redis (`cfg.redis_host:cfg.redis_port`). It SUBSCRIBEs
/// `<prefix><TICKER>` when told `(watch_atom, ticker, broadcaster)`, monitors
/// the broadcaster and UNSUBSCRIBEs when it goes down. Each payload is parsed
/// once (tick_parser) and the `tick` sent to the channel's broadcaster;
/// malformed ones are counted in `m` and dropped. When the connection drops
/// it reconnects with capped exponential backoff and re-subscribes every
/// live channel; a connection silent for `cfg.redis_ping_ms` gets a PING,
/// and silent for as long again it counts as dropped. `cfg` and `m` must
/// outlive the actor.
redis_listener_actor spawn_redis_listener(caf::actor_system& sys,
                                          const node_config& cfg, metrics& m);

} // namespace mm
