#pragma once

#include <cstdint>
#include <string>

namespace mm {

/// A TCP connect that never blocks the calling thread on the network: the
/// redis listener runs on CAF's multiplexer thread, which also carries the
/// admin endpoint and the cluster's connections, and a blocking connect to a
/// host that drops packets would hold it for the kernel's SYN retries
/// (about two minutes). The name lookup (getaddrinfo) still blocks; with an
/// IP address, or a name in /etc/hosts, it does not touch the network.
class tcp_connect {
public:
  tcp_connect() = default;
  ~tcp_connect();
  tcp_connect(const tcp_connect&) = delete;
  tcp_connect& operator=(const tcp_connect&) = delete;

  /// Starts connecting to `host`:`port` (closing an attempt in progress).
  /// Returns false with `error()` set when it failed at once.
  bool start(const std::string& host, uint16_t port);

  enum class state {
    /// No attempt: never started, failed, or the socket was taken.
    idle,
    /// The handshake is under way.
    pending,
    /// Connected: `take()` the socket.
    connected,
  };

  /// Looks (without waiting) whether the attempt has completed. On failure
  /// returns `idle` with `error()` set.
  state poll();

  /// The connected socket (non-blocking); the caller owns it afterwards.
  int take();

  /// Abandons the attempt in progress, if any.
  void reset();

  const std::string& error() const {
    return error_;
  }

private:
  bool fail(const std::string& what, int err);

  int fd_ = -1;
  bool connected_ = false;
  std::string error_;
};

} // namespace mm
