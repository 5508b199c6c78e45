#pragma once

// An edge's link to one hub (docs/cluster.md): keeps the hub's directory at
// hand for the relays and the relay directory. Internal to actors/cluster/.

#include <cstdint>
#include <string>

#include <caf/fwd.hpp>
#include <caf/io/middleman_actor.hpp>

#include "actors/interfaces.hpp"

namespace mm {

struct metrics;
struct node_config;

/// Spawns, from `parent` (the relay directory), the link to the hub at
/// `address` (`host`:`port`); its interface is `hub_link_actor`
/// (actors/interfaces.hpp). Once told `(start_atom)` it connects through
/// the middleman actor `via`, checks the protocol version with
/// `(hello_atom, version, peer)`, monitors the hub's directory and
/// reconnects with capped backoff when it goes down; it tells `peer`
/// `(hub_atom, address, up)` when the hub comes or goes. It answers
/// lookups by delegating to the hub's directory while connected. `cfg` and
/// `m` must outlive it.
hub_link_actor spawn_hub_link(caf::local_actor* parent, std::string address,
                              std::string host, uint16_t port,
                              relay_directory_actor peer,
                              caf::io::middleman_actor via,
                              const node_config* cfg, metrics* m);

} // namespace mm
