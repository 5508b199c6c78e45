#pragma once

#include <cstdint>
#include <string>

#include <caf/fwd.hpp>

#include "actors/interfaces.hpp"

namespace mm {

struct node_config;
struct metrics;
class node_identity;

/// The refusal of a new ticker beyond --max-tickers `limit`
/// (ec::ticker_limit), by the directory or, on an edge, the relay directory.
caf::error ticker_limit_error(uint32_t limit, const std::string& ticker);

/// Spawns the ticker directory: maps tickers to their broadcasters, spawns a
/// broadcaster on first demand and tells `listener` to watch it; monitors the
/// broadcasters and forgets the ones that end. A new ticker beyond
/// `cfg.max_tickers` broadcasters is refused with `ticker_limit_error`. On a
/// hub it also answers edges (hello, node, nodes; see interfaces.hpp) and `id`
/// describes the node. `cfg`, `m` and `id` must outlive it.
hub_directory_actor spawn_ticker_directory(caf::actor_system& sys,
                                           redis_listener_actor listener,
                                           const node_config& cfg, metrics& m,
                                           const node_identity* id = nullptr);

} // namespace mm
