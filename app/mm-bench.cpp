// mm-bench: drives a running marketmonitor node (or mm-ceiling) like a
// client population and reports throughput, end-to-end latency and what it
// cost the server. The engine is in bench/ (run.hpp); this parses flags.

#include <cstdio>

#include "app/absl_mode.hpp"
#include "bench/options.hpp"
#include "bench/run.hpp"

int main(int argc, char** argv) {
  mm::bench::options opts;
  mm::disable_mutex_deadlock_detection();
  try {
    if (!mm::bench::parse_flags(argc, argv, opts)) {
      std::fputs(mm::bench::usage, stdout);
      return 0;
    }
  } catch (const mm::bench::bad_flag& e) {
    std::fprintf(stderr, "mm-bench: %s\n", e.what.c_str());
    return 2;
  }
  return mm::bench::run(opts);
}
