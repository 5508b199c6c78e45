#pragma once

// A middleman actor for cluster links with a shared secret
// (--cluster-secret-file, docs/security.md): CAF's BASP runs over its
// connections only after both ends proved the secret (actors/cluster_secret).

#include <chrono>
#include <string>

#include <caf/fwd.hpp>
#include <caf/io/middleman_actor.hpp>

namespace mm {

/// Spawns a middleman actor (CAF's `middleman_actor` interface: connect,
/// publish, ...) on the system's BASP broker, as CAF's OpenSSL module does.
/// Its connections start with the cluster-secret challenge: `connect` runs
/// the client side (blocking on the actor's own thread, within `timeout`
/// for connect and challenge together) and fails with a clear error when
/// the hub refuses; a port it opens hands a connection to BASP only once
/// the peer passed the server side, which runs on a thread of its own (each
/// peer gets `timeout`); a peer that fails gets no byte of BASP, is
/// disconnected and logged (at most one line a second). Send it an exit
/// message and wait for it before the system ends (node::~node does).
caf::io::middleman_actor
spawn_secret_middleman(caf::actor_system& sys, std::string secret,
                       std::chrono::milliseconds timeout);

} // namespace mm
