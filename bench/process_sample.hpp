#pragma once

#include <sys/types.h>

#include <cstdint>

namespace mm::bench {

/// What /proc says about one process at one moment.
struct process_sample {
  /// False when the process is gone or /proc could not be read.
  bool ok = false;
  /// User + system CPU time since the process started.
  double cpu_seconds = 0;
  uint64_t rss_bytes = 0;
  int threads = 0;
  int fds = 0;
};

/// Reads /proc/PID/stat, /proc/PID/status and /proc/PID/fd.
process_sample sample_process(pid_t pid);

} // namespace mm::bench
