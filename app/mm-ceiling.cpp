// mm-ceiling: the plain-gRPC ceiling of the benchmark suite (its engine and
// what it does: bench/ceiling.cpp).

#include <csignal>

#include <pthread.h>

#include "app/absl_mode.hpp"
#include "app/options/bench_flags.hpp"
#include "bench/ceiling.hpp"

int main(int argc, char** argv) {
  mm::ceiling_options opts;
  mm::command_line flags{"mm-ceiling", mm::ceiling_description};
  mm::declare_ceiling_flags(flags, opts);
  if (auto status = flags.parse(argc, argv))
    return *status;
  mm::disable_mutex_deadlock_detection();
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  return mm::bench::serve_ceiling(opts, signals);
}
