#include "actors/cluster/support.hpp"

#include <algorithm>

#include "actors/node_config.hpp"

namespace mm::cluster_detail {

void log_line(const std::string& line, log::level lvl) {
  log::write(lvl, "cluster", line);
}

std::chrono::milliseconds request_timeout(const node_config& cfg) {
  return std::chrono::milliseconds{cfg.connection_timeout_ms};
}

std::chrono::milliseconds backoff(uint32_t attempt, uint32_t cap_ms,
                                  std::minstd_rand& rng) {
  uint64_t d = 100;
  for (uint32_t i = 0; i < attempt && d < cap_ms; ++i)
    d *= 2;
  d = std::max<uint64_t>(1, std::min<uint64_t>(d, cap_ms));
  std::uniform_int_distribution<uint64_t> pick{d / 2, d};
  return std::chrono::milliseconds{pick(rng)};
}

std::minstd_rand seeded_rng() {
  std::random_device rd;
  return std::minstd_rand{rd()};
}

} // namespace mm::cluster_detail
