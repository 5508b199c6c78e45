#pragma once

#include <cstdint>

namespace mm {

/// What the kernel says about this process (/proc/self), in the units of
/// Prometheus' standard process metrics.
struct process_stats {
  double cpu_seconds = 0;
  uint64_t resident_bytes = 0;
  uint64_t virtual_bytes = 0;
  uint64_t open_fds = 0;
  uint64_t max_fds = 0;
  uint64_t threads = 0;
  /// Unix seconds.
  double start_time_seconds = 0;
};

/// Reads /proc/self; fields it cannot read stay 0.
process_stats read_process_stats();

} // namespace mm
