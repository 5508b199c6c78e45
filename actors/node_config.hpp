#pragma once

#include <cstdint>
#include <string>

namespace mm {

/// The tunables of one node (the `mm-server` flags of docs/api.md).
struct node_config {
  std::string grpc_listen = "0.0.0.0:50051";
  std::string redis_host = "127.0.0.1";
  uint16_t redis_port = 6379;
  std::string redis_prefix = "prices:";
  std::string admin_listen = "127.0.0.1:50052";
  /// Every inspector request must carry this; empty: none (loopback only).
  std::string admin_secret;
  /// Whether --admin-listen may be a non-loopback address.
  bool admin_allow_remote = false;
  uint32_t attach_timeout_ms = 30000;
  uint32_t linger_ms = 5000;
  uint32_t keepalive_time_ms = 10000;
  uint32_t keepalive_timeout_ms = 10000;
  /// Clients may ping this often without being told to calm down (gRPC's
  /// GOAWAY "too_many_pings"); must not exceed what clients use.
  uint32_t min_client_ping_interval_ms = 1000;
  /// A connection with no call for this long is closed (0: never).
  uint32_t max_connection_idle_ms = 0;
  /// A connection older than this is asked to reconnect (0: never); its calls
  /// get max_connection_age_grace_ms to finish.
  uint32_t max_connection_age_ms = 0;
  uint32_t max_connection_age_grace_ms = 0;
  /// Largest request message accepted; larger ones get RESOURCE_EXHAUSTED.
  uint32_t max_request_bytes = 65536;
  uint32_t flush_interval_ms = 0;
  uint32_t max_batch = 500;
  uint32_t max_sessions = 100000;
  uint32_t max_tickers_per_session = 100;
  uint32_t max_pending = 10000;
  uint32_t shutdown_timeout_ms = 5000;
  /// Largest flush interval a client may ask for.
  uint32_t max_flush_interval_ms = 60000;
};

} // namespace mm
