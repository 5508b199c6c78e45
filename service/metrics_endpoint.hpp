#pragma once

#include <memory>
#include <string>
#include <thread>

#include <caf/fwd.hpp>

namespace httplib {
class Server;
} // namespace httplib

namespace mm {

class node;

/// The operator's HTTP port (--metrics-listen): `GET /metrics` in the
/// Prometheus text format and `GET /healthz` (200 SERVING or 503
/// NOT_SERVING, the gRPC health service's answer). Every answer reads the
/// node's counters; none asks an actor.
class metrics_endpoint {
public:
  metrics_endpoint(caf::actor_system& sys, node& n);
  ~metrics_endpoint();
  metrics_endpoint(const metrics_endpoint&) = delete;
  metrics_endpoint& operator=(const metrics_endpoint&) = delete;

  /// Serves on the node's `metrics_listen`. Fails with `ec::bad_config`
  /// and what went wrong (see `text_of`).
  caf::error start();

  /// The address actually bound (with port 0, the port the system picked).
  const std::string& address() const {
    return address_;
  }

  /// Stops serving; waits for the server's thread.
  void stop();

private:
  caf::actor_system& sys_;
  node& node_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::string address_;
};

} // namespace mm
