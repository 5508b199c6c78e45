#include "actors/health.hpp"

#include <cstdio>

namespace mm {

namespace {

std::string seconds_text(int64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f s", static_cast<double>(ns) / 1e9);
  return buf;
}

} // namespace

health_status check_health(const metrics& m, node_role role,
                           std::chrono::milliseconds grace, int64_t now_ns) {
  if (m.shutting_down.load(std::memory_order_relaxed))
    return {false, "shutting down"};
  auto grace_ns = std::chrono::nanoseconds{grace}.count();
  if (role == node_role::edge) {
    if (m.cluster_links_up.load(std::memory_order_relaxed) > 0)
      return {};
    auto down = now_ns - m.hubs_down_since_ns.load(std::memory_order_relaxed);
    if (down <= grace_ns)
      return {};
    return {false, "no hub reachable for " + seconds_text(down)};
  }
  if (m.redis_connected.load(std::memory_order_relaxed))
    return {};
  auto down = now_ns - m.redis_down_since_ns.load(std::memory_order_relaxed);
  if (down <= grace_ns)
    return {};
  if (m.redis_auth_refused.load(std::memory_order_relaxed))
    return {false, "Redis refused our credentials (--redis-user, "
                   "--redis-password-file) for "
                     + seconds_text(down)};
  return {false, "Redis unreachable for " + seconds_text(down)};
}

health_status check_health(const metrics& m, const node_config& cfg) {
  return check_health(m, cfg.role,
                      std::chrono::milliseconds{cfg.health_grace_ms},
                      metrics::steady_now_ns());
}

} // namespace mm
