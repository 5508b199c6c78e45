#pragma once

// How the gRPC server of a node runs: keepalive, connection lifetime,
// request size, completion queues and gRPC's own resource limits (the
// mm-server flags of docs/api.md). The service reads them
// (service/grpc_service.cpp); the actors know nothing of gRPC.

#include <cstdint>

namespace mm {

struct grpc_settings {
  /// Our keepalive pings find a client that vanished without closing TCP
  /// within time + timeout (docs/architecture.md rule 4).
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
  /// Completion queues (one thread each) that serve the streaming calls
  /// (why 16: docs/benchmarks.md, "Sixteen completion queues").
  uint32_t grpc_queues = 16;
  /// gRPC's ResourceQuota: memory for its buffers (MiB; 0: no limit) and
  /// threads (0: no limit).
  uint32_t grpc_max_memory_mb = 2048;
  uint32_t grpc_max_threads = 32;
  /// Concurrent streams (calls) per HTTP/2 connection (0: gRPC's default,
  /// no limit).
  uint32_t max_concurrent_streams = 10000;
};

} // namespace mm
