#pragma once

#include <chrono>
#include <string>

#include "actors/metrics.hpp"
#include "actors/node_config.hpp"

namespace mm {

/// What the node's health checks say (gRPC health, `stats`, /metrics and
/// /healthz all show this one answer).
struct health_status {
  bool serving = true;
  /// Why not, in words for an operator; empty while serving.
  std::string why;
};

/// Decides health from the node's counters at `now_ns` (steady clock): not
/// serving once the node shuts down, or while its upstream (Redis; on an
/// edge every hub) has been unreachable for longer than the grace period.
health_status check_health(const metrics& m, node_role role,
                           std::chrono::milliseconds grace, int64_t now_ns);

/// The same at the current time with the node's config.
health_status check_health(const metrics& m, const node_config& cfg);

} // namespace mm
