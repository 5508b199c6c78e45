#include "app/shell/signals.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

namespace mm::shell {

std::atomic<bool> interrupted{false};
std::atomic<bool> terminated{false};
std::atomic<bool> interruptible{false};

namespace {

int wake_pipe[2] = {-1, -1};

void on_signal(int sig) {
  if (!interruptible.load())
    _exit(128 + sig);
  (sig == SIGINT ? interrupted : terminated).store(true);
  wake();
}

sigset_t handled_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  return signals;
}

} // namespace

void block_signals() {
  auto signals = handled_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

std::string make_wake_pipe() {
  if (pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
    return std::strerror(errno);
  return {};
}

void catch_signals() {
  struct sigaction sa = {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0; // no SA_RESTART: a blocking read returns EINTR
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  auto signals = handled_signals();
  pthread_sigmask(SIG_UNBLOCK, &signals, nullptr);
}

void wake() {
  char c = 1;
  [[maybe_unused]] auto n = write(wake_pipe[1], &c, 1);
}

void wait_for_wake() {
  pollfd pfd{wake_pipe[0], POLLIN, 0};
  if (poll(&pfd, 1, -1) > 0)
    drain_wakes();
}

void drain_wakes() {
  char buf[64];
  while (read(wake_pipe[0], buf, sizeof(buf)) > 0)
    ; // nop
}

} // namespace mm::shell
