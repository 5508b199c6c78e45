#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mm {

/// What a node does in a cluster (docs/cluster.md).
enum class node_role {
  /// Everything in one process.
  standalone,
  /// Redis listener and broadcasters, published on `cluster_listen`.
  hub,
  /// gRPC front and sessions; relays subscribe at the hubs.
  edge,
};

/// The tunables of one node (the `mm-server` flags of docs/api.md); those of
/// its gRPC server are service/grpc_settings.hpp.
struct node_config {
  node_role role = node_role::standalone;
  /// Hub: where edges reach the ticker directory (port 0: any free port).
  std::string cluster_listen;
  /// Edge: the hubs as HOST:PORT, in the form every edge uses (the strings
  /// are what rendezvous hashing hashes).
  std::vector<std::string> hubs;
  /// BASP heartbeats between nodes; a peer silent for the connection
  /// timeout is dropped (its proxies go down: remote_link_unreachable).
  uint32_t heartbeat_interval_ms = 1000;
  uint32_t connection_timeout_ms = 10000;
  /// Edge: the cap of a relay's (and hub link's) reconnect backoff.
  uint32_t hub_retry_max_ms = 5000;
  /// TLS between nodes (all three, or none).
  std::string cluster_cert;
  std::string cluster_key;
  std::string cluster_ca;
  /// The cluster's shared secret (--cluster-secret-file, at least 32
  /// bytes): cluster links start with an HMAC challenge that both ends
  /// must pass (actors/cluster_secret.hpp). Empty: none. Not with TLS.
  std::string cluster_secret;
  /// The cluster protocol version this node claims; only tests change it.
  uint32_t cluster_protocol = 0;
  std::string grpc_listen = "0.0.0.0:50051";
  /// TLS on the gRPC port (PEM files; cert and key go together; reread on
  /// SIGHUP). With `tls_client_ca`, every client must present a certificate
  /// signed by it, and its subject is the caller's identity (mutual TLS).
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  /// Token authentication on the gRPC port: "none" or "jwt" (HS256 with a
  /// shared secret, RS256 or ES256 with a public key; `jwt_key_file`).
  std::string auth = "none";
  std::string jwt_key_file;
  std::string redis_host = "127.0.0.1";
  uint16_t redis_port = 6379;
  std::string redis_prefix = "prices:";
  /// Credentials sent with AUTH before anything else on every connection
  /// (empty password: no AUTH; empty user: the password alone, Redis'
  /// `default` user).
  std::string redis_user;
  std::string redis_password;
  /// When nothing came from Redis for this long, the listener PINGs it; when
  /// still nothing came after as long again, the connection is dead (a peer
  /// gone without FIN or RST) and it reconnects (0: never).
  uint32_t redis_ping_ms = 5000;
  /// A connection attempt to Redis not completed within this fails (and is
  /// retried with backoff). It never blocks the thread it runs on. 0: CAF's
  /// own connect, which blocks until the kernel gives up (only the tests on
  /// CAF's simulated network use it).
  uint32_t redis_connect_timeout_ms = 3000;
  std::string admin_listen = "127.0.0.1:50052";
  /// Every inspector request must carry this; empty: none (loopback only).
  std::string admin_secret;
  /// Whether --admin-listen may be a non-loopback address.
  bool admin_allow_remote = false;
  /// The admin endpoint takes TLS only, with the cluster's certificates
  /// (cluster_cert, cluster_key, cluster_ca): clients need a certificate
  /// the CA signed.
  bool admin_tls = false;
  /// Allows a non-loopback gRPC, cluster or admin endpoint without TLS or
  /// authentication (docs/security.md).
  bool insecure = false;
  uint32_t attach_timeout_ms = 30000;
  uint32_t linger_ms = 5000;
  /// Per broadcaster (and relay): the last this many updates are kept for
  /// sessions that resume (0: no history) ...
  uint32_t history_size = 256;
  /// ... and none older than this.
  uint32_t history_ttl_ms = 60000;
  uint32_t flush_interval_ms = 0;
  uint32_t max_batch = 500;
  uint32_t max_sessions = 100000;
  uint32_t max_tickers_per_session = 100;
  uint32_t max_pending = 10000;
  /// A stream whose write has not completed for this long is ended with
  /// RESOURCE_EXHAUSTED "client not reading" (0: never).
  uint32_t write_stall_timeout_ms = 30000;
  // --- limits per client (docs/security.md); a client is its identity, or
  // its peer host without one (service/caller.hpp) ---
  /// Sessions one client may have at once (0: no limit but --max-sessions).
  uint32_t max_sessions_per_client = 0;
  /// Start/Subscribe/Update calls per second per client, a token bucket
  /// (0: no limit) ...
  uint32_t start_rate = 0;
  /// ... holding this many tokens (0: as many as start_rate).
  uint32_t start_burst = 0;
  /// Distinct tickers (broadcasters, on an edge relays) per node (0: no
  /// limit).
  uint32_t max_tickers = 10000;
  /// --ticker-allowlist: exact tickers and prefixes ending in `*`; empty:
  /// every valid ticker is allowed.
  std::vector<std::string> ticker_allowlist;
  uint32_t shutdown_timeout_ms = 5000;
  /// How often mm-server hands freed heap memory back to the OS with
  /// malloc_trim (0: never).
  uint32_t malloc_trim_interval_ms = 10000;
  /// CAF scheduler worker threads (0: one per core).
  uint32_t actor_threads = 0;
  /// Largest flush interval a client may ask for.
  uint32_t max_flush_interval_ms = 60000;
  /// Health says NOT_SERVING once Redis (on an edge: every hub) has been
  /// unreachable for longer than this.
  uint32_t health_grace_ms = 5000;
  /// Serves GET /metrics and /healthz here (HOST:PORT; empty: off).
  std::string metrics_listen;
  /// Whether --metrics-listen may be a non-loopback address.
  bool metrics_allow_remote = false;
  /// One info line per session start and end.
  bool log_sessions = true;
  /// The process' logging (logging/log.hpp): trace, debug, info, warn or
  /// error; text or json.
  std::string log_level = "info";
  std::string log_format = "text";
};

} // namespace mm
