#pragma once

// The flags of the benchmark binaries on the options layer: mm-bench
// (bench/options.hpp holds its settings) and mm-ceiling.

#include <cstddef>
#include <cstdint>

#include "actors/host_port.hpp"
#include "app/options/options.hpp"
#include "bench/options.hpp"

namespace mm {

/// What `mm-bench --help` says before the flags.
extern const char* const bench_description;

/// Declares every mm-bench flag on `cl`, bound to `opts`, whose values are
/// the defaults, and the checks across flags.
void declare_bench_flags(command_line& cl, bench::options& opts);

/// mm-ceiling's settings.
struct ceiling_options {
  /// Port 0: any free port (the ready line prints the one it got).
  host_port listen{"127.0.0.1", 0};
  size_t tickers = 100;
  double rate = 2000;
  size_t max_batch = 500;
  size_t max_pending = 10000;
  int64_t attach_timeout_ms = 30000;
  size_t grpc_queues = 16;
};

/// What `mm-ceiling --help` says before the flags.
extern const char* const ceiling_description;

/// Declares every mm-ceiling flag on `cl`, bound to `opts`.
void declare_ceiling_flags(command_line& cl, ceiling_options& opts);

} // namespace mm
