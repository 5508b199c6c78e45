#pragma once

// What the hub link, the relay and the relay directory share: their log
// line, request timeout and retry backoff. Internal to actors/cluster/.

#include <chrono>
#include <cstdint>
#include <random>
#include <string>

#include "logging/log.hpp"

namespace mm {

struct node_config;

namespace cluster_detail {

void log_line(const std::string& line, log::level lvl = log::level::info);

std::chrono::milliseconds request_timeout(const node_config& cfg);

/// Capped exponential backoff with jitter: 100 ms, 200 ms, ... up to the
/// cap, each drawn from [d/2, d] so that edges do not retry in lockstep.
std::chrono::milliseconds backoff(uint32_t attempt, uint32_t cap_ms,
                                  std::minstd_rand& rng);

std::minstd_rand seeded_rng();

} // namespace cluster_detail

} // namespace mm
