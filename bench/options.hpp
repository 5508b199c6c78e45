#pragma once

// mm-bench's settings. Its flags are declared in app/options/bench_flags.cpp
// (the options layer), with the defaults below.

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "actors/host_port.hpp"

namespace mm::bench {

struct options {
  host_port target{"127.0.0.1", 50051};
  host_port redis{"127.0.0.1", 6379};
  std::string redis_prefix = "prices:";
  bool ceiling = false;
  uint64_t sessions = 1000;
  uint64_t channels = 4;
  uint64_t tickers = 100;
  uint64_t per_session = 5;
  double rate = 2000;
  double seconds = 10;
  double warmup_seconds = 2;
  bool start_stream = false;
  uint64_t flush_ms = 0;
  bool deliver_all = false;
  double ramp_per_sec = 0;
  /// Sessions started and not yet established at once (0: no limit).
  uint64_t max_starting = 0;
  double establish_timeout = 60;
  pid_t server_pid = 0;
  /// The admin endpoint; an empty host: none.
  host_port admin;
  double idle_seconds = 10;
  uint64_t churn = 0;
  uint64_t churn_concurrency = 500;
  uint64_t churn_hold_ms = 50;
  uint64_t seed = 1;
  std::string json_file;
  uint64_t client_queues = 16;
  /// The command line as given, for the report.
  std::vector<std::string> argv;
};

} // namespace mm::bench
