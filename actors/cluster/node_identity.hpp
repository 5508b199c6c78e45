#pragma once

// What a node tells others about itself (`nodes`, docs/cluster.md).

#include <cstdint>
#include <mutex>
#include <string>

#include <caf/fwd.hpp>

#include "actors/inspection.hpp"
#include "actors/node_config.hpp"

namespace mm {

struct metrics;

/// Returns the name of `x`: "standalone", "hub" or "edge".
const char* to_string(node_role x);

/// What a node tells others about itself. Addresses are known only once the
/// node listens, after its actors started, hence the lock.
class node_identity {
public:
  explicit node_identity(node_role role);

  /// Sets the addresses that `describe` reports.
  void set_addresses(std::string address, std::string admin);

  /// This node as `nodes` shows it, with the counters of `m`.
  node_info describe(const caf::actor_system& sys, const metrics& m) const;

private:
  node_role role_;
  int64_t up_since_ms_;
  mutable std::mutex mtx_;
  std::string address_;
  std::string admin_;
};

} // namespace mm
