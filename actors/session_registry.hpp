#pragma once

#include <map>
#include <string>

#include <caf/fwd.hpp>

#include "actors/interfaces.hpp"

namespace mm {

struct node_config;
struct metrics;

/// Spawns the session registry: creates sessions under random ids (UUIDv4,
/// 122 random bits), enforces `cfg.max_sessions`, monitors every session and
/// drops the ids of the ones that exit, counting them by exit reason.
session_registry_actor spawn_session_registry(caf::actor_system& sys,
                                              ticker_directory_actor directory,
                                              const node_config& cfg,
                                              metrics& m);

} // namespace mm
