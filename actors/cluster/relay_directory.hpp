#pragma once

// An edge's relay directory (docs/cluster.md): the `directory` of its
// sessions, with one relay per ticker in use and one link per hub.

#include <vector>

#include <caf/fwd.hpp>
#include <caf/io/middleman_actor.hpp>

#include "actors/interfaces.hpp"

namespace mm {

struct metrics;
struct node_config;
class node_identity;

/// Spawns an edge's relay directory (`relay_directory_actor`,
/// actors/interfaces.hpp): the `directory` of its sessions and of
/// GetLastPrices. Answers `(get_atom, ticker, dead_hint)` with a local relay
/// per ticker, which subscribes at the broadcaster of the hub `route_of`
/// picks, and moves it when that hub is lost or returns; spawns one
/// hub link per `cfg.hubs` entry once told `(start_atom)` (node::announce).
/// The links connect through the middleman actor `via` (CAF's
/// `io::middleman_actor` interface: CAF's own, its OpenSSL one, or the
/// cluster-secret one). `cfg`, `m` and `id` must outlive it.
relay_directory_actor spawn_relay_directory(caf::actor_system& sys,
                                            const node_config& cfg, metrics& m,
                                            const node_identity& id,
                                            caf::io::middleman_actor via);

/// For tests: the same with `links` (one per `cfg.hubs` entry, same order)
/// in place of hub links; they answer the relays' `(get_atom, ticker,
/// dead_hint)`, and the test tells the directory `(hub_atom, address, up)`
/// as a link does.
relay_directory_actor spawn_relay_directory(caf::actor_system& sys,
                                            const node_config& cfg, metrics& m,
                                            const node_identity& id,
                                            std::vector<hub_link_actor> links);

} // namespace mm
