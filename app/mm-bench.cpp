// mm-bench: drives a running marketmonitor node (or mm-ceiling) like a
// client population and reports throughput, end-to-end latency and what it
// cost the server. The engine is in bench/ (run.hpp), the flags in
// app/options/bench_flags.cpp.

#include "app/absl_mode.hpp"
#include "app/options/bench_flags.hpp"
#include "bench/options.hpp"
#include "bench/run.hpp"

int main(int argc, char** argv) {
  mm::bench::options opts;
  mm::command_line flags{"mm-bench", mm::bench_description};
  mm::declare_bench_flags(flags, opts);
  if (auto status = flags.parse(argc, argv))
    return *status;
  opts.argv.assign(argv, argv + argc);
  mm::disable_mutex_deadlock_detection();
  return mm::bench::run(opts);
}
