#pragma once

// mm-bench's flags.

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace mm::bench {

/// The text of `mm-bench --help`.
extern const char* const usage;

struct options {
  std::string target = "127.0.0.1:50051";
  std::string redis = "127.0.0.1:6379";
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
  double establish_timeout = 60;
  pid_t server_pid = 0;
  std::string admin;
  double idle_seconds = 10;
  uint64_t churn = 0;
  uint64_t churn_concurrency = 500;
  uint64_t churn_hold_ms = 50;
  uint64_t seed = 1;
  std::string json_file;
  uint64_t client_queues = 16;
  std::vector<std::string> argv;
};

/// A flag mm-bench cannot use; `what` says which and why.
struct bad_flag {
  std::string what;
};

/// Parses argv into `opts`; returns false when --help was asked for. Throws
/// `bad_flag`.
bool parse_flags(int argc, char** argv, options& opts);

} // namespace mm::bench
