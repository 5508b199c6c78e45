#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace mm::test {

/// A loopback TCP proxy under the test's control. Each direction of a
/// connection is forwarded on its own (a side that does not read stops
/// neither the other direction nor other connections), and an end of
/// stream or an error of one side reaches the other, as over a network.
/// `freeze` makes it stop forwarding both ways while it keeps every socket
/// open: to both ends the peer has vanished without a FIN or RST, as a dead
/// host or a cut cable.
class tcp_proxy {
public:
  /// Listens on a free loopback port and forwards to 127.0.0.1:`target`.
  explicit tcp_proxy(uint16_t target);
  ~tcp_proxy();

  tcp_proxy(const tcp_proxy&) = delete;
  tcp_proxy& operator=(const tcp_proxy&) = delete;

  uint16_t port() const {
    return port_;
  }

  /// Stops forwarding (and reading) in both directions, for good.
  void freeze() {
    frozen_ = true;
  }

  /// Stops forwarding on the connections accepted so far (they stay open,
  /// silent both ways); later ones are forwarded as usual.
  void freeze_existing() {
    frozen_below_ = accepted_.load();
  }

  /// Connections accepted so far.
  size_t accepted() const {
    return accepted_;
  }

private:
  struct pair;

  void run();

  uint16_t target_;
  uint16_t port_ = 0;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  std::atomic<bool> frozen_{false};
  /// Connections numbered below this (in accept order) are frozen.
  std::atomic<size_t> frozen_below_{0};
  std::atomic<bool> stop_{false};
  std::atomic<size_t> accepted_{0};
  std::thread thread_;
};

} // namespace mm::test
