#pragma once

// The cluster protocol version: nodes of different versions refuse each
// other (docs/cluster.md).

#include <cstdint>

namespace mm {

struct node_config;

/// The version of the messages nodes exchange. Bump it whenever a type that
/// crosses nodes (messages.hpp, inspection.hpp, price_update.hpp) or the
/// cluster protocol changes: nodes of different versions refuse each other.
constexpr uint32_t cluster_protocol_version = 3;

/// The protocol version `cfg` claims (tests may override it).
uint32_t protocol_of(const node_config& cfg);

} // namespace mm
