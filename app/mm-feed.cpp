// mm-feed: publishes a simulated market to Redis in the feed format of
// API.md ("Redis feed"), for demos, benchmarks and integration tests. Its
// engine is feed/simulator.cpp, its flags app/options/feed_flags.cpp.

#include <csignal>
#include <cstdint>
#include <random>

#include "app/options/feed_flags.hpp"
#include "app/options/log_flags.hpp"

namespace {

volatile std::sig_atomic_t stop_requested = 0;

extern "C" void on_stop_signal(int) {
  stop_requested = 1;
}

} // namespace

int main(int argc, char** argv) {
  mm::feed::simulator_options opts;
  mm::command_line flags{"mm-feed", mm::feed_description};
  mm::declare_feed_flags(flags, opts);
  if (auto status = flags.parse(argc, argv))
    return *status;
  mm::configure_logging(opts.log_level, opts.log_format);
  if (!opts.seed_given)
    opts.seed = (static_cast<uint64_t>(std::random_device{}()) << 32)
                ^ std::random_device{}();
  // A write to a connection Redis closed must be an error we reconnect
  // from, not a signal that kills us.
  std::signal(SIGPIPE, SIG_IGN);
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  return mm::feed::run_simulator(opts, stop_requested);
}
