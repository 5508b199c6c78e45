#pragma once

#include <caf/fwd.hpp>

namespace mm {

class node;

/// Spawns the inspector of `n`: answers the shell (`stats`, `sessions`,
/// `tickers`, `kill`, `watch`, ...) from the node's live actors; the protocol
/// is in actors/messages.hpp. Every request must carry the node's admin
/// secret. It monitors the node's registry, directory and listener (they
/// live as long as it does) to report whether they still run. `n` must
/// outlive it.
caf::actor spawn_inspector(caf::actor_system& sys, node& n);

} // namespace mm
