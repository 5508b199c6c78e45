#include "app/options/server_flags.hpp"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "actors/cluster_secret.hpp"
#include "actors/errors.hpp"
#include "actors/host_port.hpp"
#include "actors/ticker_patterns.hpp"
#include "app/options/log_flags.hpp"

namespace mm {

const char* const server_description =
  R"(Serves the marketmonitor gRPC API (with health and reflection) for price
ticks read from Redis pub/sub. Prints one line
  marketmonitor ready grpc=HOST:PORT admin=HOST:PORT
once it serves (a hub prints
  marketmonitor ready grpc=none admin=HOST:PORT cluster=HOST:PORT
instead). SIGTERM / SIGINT end every session (streams end with
UNAVAILABLE) and exit within --shutdown-timeout-ms; a second signal exits at
once. SIGHUP rereads the TLS files and the token key (docs/security.md). Exit status: 0 after a clean shutdown, 1 if it cannot serve (e.g. the
port is taken) or shutdown was forced, 2 on bad flags.)";

namespace {

const char* role_name(node_role role) {
  switch (role) {
    case node_role::hub: return "hub";
    case node_role::edge: return "edge";
    default: return "standalone";
  }
}

/// Reads the first line of `path` as the secret of `flag`.
std::string read_secret(const std::string& path,
                        const std::string& flag = "--admin-secret-file") {
  std::ifstream in{path};
  std::string line;
  if (!in || !std::getline(in, line))
    bad_flag(flag + ": cannot read \"" + path + "\"");
  auto first = line.find_first_not_of(" \t\r\n");
  if (first == std::string::npos)
    bad_flag(flag + ": the first line of \"" + path + "\" is empty");
  auto last = line.find_last_not_of(" \t\r\n");
  return line.substr(first, last - first + 1);
}

/// The gRPC port's security flags (docs/security.md); the files' contents
/// are checked when mm-server loads them.
void check_security(const node_config& cfg) {
  if (cfg.tls_cert.empty() != cfg.tls_key.empty())
    bad_flag("--tls-cert and --tls-key go together: give both or none");
  if (!cfg.tls_client_ca.empty() && cfg.tls_cert.empty())
    bad_flag("--tls-client-ca: mutual TLS needs --tls-cert and --tls-key");
  if (cfg.auth == "jwt" && cfg.jwt_key_file.empty())
    bad_flag("--auth jwt: needs --jwt-key-file F");
  if (cfg.auth != "jwt" && !cfg.jwt_key_file.empty())
    bad_flag("--jwt-key-file: only used with --auth jwt");
  // A hub serves no gRPC.
  if (cfg.role == node_role::hub || cfg.insecure)
    return;
  auto grpc = host_port::parse(cfg.grpc_listen);
  if (!grpc->is_loopback() && cfg.tls_cert.empty() && cfg.auth == "none")
    bad_flag("--grpc-listen: " + grpc->host
             + " is not a loopback address and neither TLS (--tls-cert, "
               "--tls-key) nor --auth jwt is configured; add one, or "
               "--insecure to serve anyone in clear text");
}

/// Reads the --ticker-allowlist file `path` into `out` (its patterns).
void read_allowlist(const std::string& path, std::vector<std::string>& out) {
  std::ifstream in{path};
  if (!in)
    bad_flag("--ticker-allowlist: cannot read \"" + path + "\"");
  std::string text{std::istreambuf_iterator<char>{in},
                   std::istreambuf_iterator<char>{}};
  ticker_patterns xs;
  if (auto err = xs.parse(text))
    bad_flag("--ticker-allowlist: \"" + path + "\" " + text_of(err));
  if (xs.empty())
    bad_flag("--ticker-allowlist: \"" + path
             + "\" lists no ticker (one exact ticker or prefix* per line)");
  out = xs.patterns();
}

/// The checks across flags.
void check(node_config& cfg) {
  // Every occurrence of --hub adds one; the strings are what edges hash.
  std::vector<std::string> hubs;
  for (auto& hub : cfg.hubs)
    if (std::find(hubs.begin(), hubs.end(), hub) == hubs.end())
      hubs.push_back(hub);
  cfg.hubs = std::move(hubs);
  auto admin = host_port::parse(cfg.admin_listen);
  if (!admin->is_loopback()) {
    if (!cfg.admin_allow_remote)
      bad_flag("--admin-listen: " + admin->host
               + " is not a loopback address; the inspection endpoint "
                 "can end sessions, so opening it to the network "
                 "needs --admin-allow-remote and an admin secret");
    if (cfg.admin_secret.empty())
      bad_flag("--admin-allow-remote: a non-loopback --admin-listen "
               "needs --admin-secret-file (or MM_ADMIN_SECRET)");
    if (!cfg.admin_tls && !cfg.insecure)
      bad_flag("--admin-listen: " + admin->host
               + " is not a loopback address and the admin endpoint has "
                 "no TLS; add --admin-tls (or --insecure)");
  }
  if (!cfg.redis_user.empty() && cfg.redis_password.empty())
    bad_flag("--redis-user: needs --redis-password-file");
  if (cfg.role == node_role::hub && cfg.cluster_listen.empty())
    bad_flag("--role hub: needs --cluster-listen HOST:PORT");
  if (cfg.role != node_role::hub && !cfg.cluster_listen.empty())
    bad_flag("--cluster-listen: only a hub listens for its cluster "
             "(add --role hub)");
  if (cfg.role == node_role::edge && cfg.hubs.empty())
    bad_flag("--role edge: needs at least one --hub HOST:PORT");
  if (cfg.role != node_role::edge && !cfg.hubs.empty())
    bad_flag("--hub: only an edge connects to hubs (add --role edge)");
  auto tls = !cfg.cluster_cert.empty() + !cfg.cluster_key.empty()
             + !cfg.cluster_ca.empty();
  if (tls != 0 && tls != 3)
    bad_flag("--cluster-cert, --cluster-key and --cluster-ca go "
             "together: give all three or none");
  if (tls != 0 && cfg.role == node_role::standalone && !cfg.admin_tls)
    bad_flag("--cluster-cert: a standalone node has no cluster "
             "(add --role hub or --role edge, or --admin-tls)");
  if (cfg.admin_tls && tls != 3)
    bad_flag("--admin-tls: needs --cluster-cert, --cluster-key and "
             "--cluster-ca");
  auto secret = !cfg.cluster_secret.empty();
  if (secret && cfg.role == node_role::standalone)
    bad_flag("--cluster-secret-file: a standalone node has no cluster "
             "(add --role hub or --role edge)");
  if (secret && tls != 0)
    bad_flag("--cluster-secret-file: give either TLS (--cluster-cert, "
             "--cluster-key, --cluster-ca) or a cluster secret, not both");
  if (tls == 0 && !secret && !cfg.insecure) {
    // Secure by default: CAF's BASP trusts every peer that connects, so a
    // cluster beyond this host needs TLS with a CA or the shared secret
    // (docs/security.md).
    auto why = std::string{" is not a loopback address and the cluster has "
                           "neither TLS nor a shared secret; give "
                           "--cluster-cert, --cluster-key and --cluster-ca, "
                           "or --cluster-secret-file (or --insecure)"};
    if (cfg.role == node_role::hub) {
      auto at = host_port::parse(cfg.cluster_listen);
      if (at && !at->is_loopback())
        bad_flag("--cluster-listen: " + at->host + why);
    }
    for (auto& hub : cfg.hubs) {
      auto at = host_port::parse(hub, 1);
      if (at && !at->is_loopback())
        bad_flag("--hub: " + at->host + why);
    }
  }
  if (cfg.heartbeat_interval_ms != 0
      && cfg.connection_timeout_ms <= cfg.heartbeat_interval_ms)
    bad_flag("--connection-timeout-ms: "
             + std::to_string(cfg.connection_timeout_ms)
             + " must exceed --heartbeat-interval-ms "
             + std::to_string(cfg.heartbeat_interval_ms));
  if (!cfg.metrics_listen.empty()) {
    auto metrics = host_port::parse(cfg.metrics_listen);
    if (!metrics->is_loopback() && !cfg.metrics_allow_remote)
      bad_flag("--metrics-listen: " + metrics->host
               + " is not a loopback address; add --metrics-allow-remote "
                 "to serve metrics to the network");
  }
  check_security(cfg);
  if (cfg.flush_interval_ms > cfg.max_flush_interval_ms)
    bad_flag("--flush-interval-ms: " + std::to_string(cfg.flush_interval_ms)
             + " is above --max-flush-interval-ms "
             + std::to_string(cfg.max_flush_interval_ms));
}

} // namespace

void declare_server_flags(command_line& cl, server_config& cfg) {
  auto number = [&](const std::string& flag, uint32_t& value, uint32_t min,
                    std::string help) {
    return cl.add(flag, value, std::move(help))
      ->check(whole_number(min))
      ->type_name("N");
  };
  auto address = [&](const std::string& flag, std::string& value,
                     unsigned min_port, std::string help) {
    return cl.add(flag, value, std::move(help))
      ->check(host_port_check(min_port))
      ->type_name("HOST:PORT");
  };
  auto& app = cl.app();
  address("--grpc-listen", cfg.grpc_listen, 0,
          "gRPC address (port 0: any free port, printed in the ready line)");
  // Security of the gRPC port (docs/security.md).
  const std::string security = "Security of the gRPC port (docs/security.md)";
  cl.add("--tls-cert", cfg.tls_cert,
         "serve gRPC over TLS with this certificate chain (PEM; with\n"
         "--tls-key; both reread on SIGHUP)")
    ->check(readable_file())
    ->type_name("F")
    ->group(security);
  cl.add("--tls-key", cfg.tls_key, "the certificate's private key (PEM)")
    ->check(readable_file())
    ->type_name("F")
    ->group(security);
  cl.add("--tls-client-ca", cfg.tls_client_ca,
         "mutual TLS: clients must present a certificate signed by\n"
         "this CA (PEM); its subject is the caller's identity")
    ->check(readable_file())
    ->type_name("F")
    ->group(security);
  cl.add("--auth", cfg.auth,
         "jwt: every call needs \"authorization: Bearer <token>\"\n"
         "metadata; the token's sub is the caller's identity")
    ->check(one_of({"none", "jwt"}))
    ->type_name("none|jwt")
    ->group(security);
  cl.add("--jwt-key-file", cfg.jwt_key_file,
         "--auth jwt: an RSA or EC public key (PEM; RS256 or ES256\n"
         "tokens) or else a shared secret of at least 32 bytes (HS256)")
    ->check(readable_file())
    ->type_name("F")
    ->group(security);
  cl.add_switch("--insecure", cfg.insecure,
                "allows a non-loopback --grpc-listen without TLS and\n"
                "without --auth, a non-loopback cluster endpoint without\n"
                "TLS or --cluster-secret-file, and a non-loopback admin\n"
                "endpoint without TLS (anyone who reaches it may use it)")
    ->group(security);
  cl.bind_environment(
    app
      .add_option_function<std::string>(
        "--redis",
        [&cfg](const std::string& val) {
          auto hp = host_port::parse(val, 1);
          cfg.redis_host = hp->host;
          cfg.redis_port = hp->port;
        },
        "Redis server")
      ->check(host_port_check(1))
      ->type_name("HOST:PORT")
      ->default_str(host_port{cfg.redis_host, cfg.redis_port}.to_string()));
  cl.add("--redis-prefix", cfg.redis_prefix,
         "channel prefix, channel = P + TICKER")
    ->type_name("P");
  cl.add("--redis-user", cfg.redis_user,
         "Redis ACL user for AUTH (needs --redis-password-file)")
    ->type_name("U");
  cl.bind_environment(
    app
      .add_option_function<std::string>(
        "--redis-password-file",
        [&cfg](const std::string& val) {
          cfg.redis_password = read_secret(val, "--redis-password-file");
        },
        "sends AUTH [U] PASSWORD (first line of F) before anything\n"
        "else on every connection to Redis")
      ->type_name("F"));
  number("--redis-ping-ms", cfg.redis_ping_ms, 0,
         "checks Redis every N ms: an interval without a byte from it\n"
         "sends a PING, the next one still silent drops the connection\n"
         "and reconnects (a silent Redis is found within 3 x N; 0: never)");
  number("--redis-connect-timeout-ms", cfg.redis_connect_timeout_ms, 1,
         "a connection attempt to Redis without an answer fails\n"
         "after N ms and is retried");
  address("--admin-listen", cfg.admin_listen, 0,
          "inspection endpoint for mm-shell (port 0: any free port,\n"
          "printed in the ready line)");
  cl.add_switch("--admin-allow-remote", cfg.admin_allow_remote,
                "allows a non-loopback --admin-listen; needs an admin secret\n"
                "and --admin-tls (or --insecure)");
  cl.add_switch("--admin-tls", cfg.admin_tls,
                "the admin endpoint takes TLS only, with the certificates\n"
                "of --cluster-cert/-key/-ca (mm-shell: --tls-cert/-key/-ca)");
  cl.secret(cl.add("--admin-secret", cfg.admin_secret,
                   "secret every mm-shell request must carry; only as\n"
                   "MM_ADMIN_SECRET or admin-secret in --config (refused on "
                   "the\ncommand line, where ps shows it)"),
            "--admin-secret-file F")
    ->type_name("S")
    ->check(CLI::Validator{[](std::string& val) -> std::string {
                             if (val.empty())
                               return "the secret must not be empty";
                             return {};
                           },
                           ""});
  cl.bind_environment(
    app
      .add_option_function<std::string>(
        "--admin-secret-file",
        [&cfg](const std::string& val) { cfg.admin_secret = read_secret(val); },
        "reads the secret from the first line of F")
      ->type_name("F"));
  number("--attach-timeout-ms", cfg.attach_timeout_ms, 1,
         "a started session with no stream attached ends");
  number("--linger-ms", cfg.linger_ms, 0,
         "a broadcaster with no subscribers ends");
  number("--history-size", cfg.history_size, 0,
         "updates each broadcaster (and edge relay) keeps for sessions\n"
         "that resume (0: none)");
  number("--history-ttl-ms", cfg.history_ttl_ms, 1, "... none older than this");
  number("--keepalive-time-ms", cfg.keepalive_time_ms, 1,
         "gRPC keepalive ping interval");
  number("--keepalive-timeout-ms", cfg.keepalive_timeout_ms, 1,
         "a ping not acknowledged within this closes the connection;\n"
         "a peer that vanished without closing TCP is found within\n"
         "keepalive time + timeout");
  number("--min-client-ping-interval-ms", cfg.min_client_ping_interval_ms, 1,
         "clients may send keepalive pings this often");
  number("--max-connection-idle-ms", cfg.max_connection_idle_ms, 0,
         "close connections without calls after this long (0: never)");
  number("--max-connection-age-ms", cfg.max_connection_age_ms, 0,
         "ask connections older than this to reconnect (0: never)");
  number("--max-connection-age-grace-ms", cfg.max_connection_age_grace_ms, 0,
         "calls get this long to finish after that (0: no limit)");
  number("--max-request-bytes", cfg.max_request_bytes, 1024,
         "larger requests get RESOURCE_EXHAUSTED");
  number("--grpc-queues", cfg.grpc_queues, 1,
         "completion queues serving the streams, one thread each");
  number("--flush-interval-ms", cfg.flush_interval_ms, 0,
         "default for sessions that do not set one; 0: adaptive");
  number("--max-flush-interval-ms", cfg.max_flush_interval_ms, 1,
         "largest flush interval a client may ask for");
  number("--max-batch", cfg.max_batch, 1, "updates per PriceBatch at most");
  number("--max-sessions", cfg.max_sessions, 1, "sessions per node");
  number("--max-tickers-per-session", cfg.max_tickers_per_session, 1,
         "tickers per session");
  number("--max-pending", cfg.max_pending, 1,
         "DELIVERY_MODE_ALL queue per session; overflow evicts with\n"
         "RESOURCE_EXHAUSTED");
  number("--write-stall-timeout-ms", cfg.write_stall_timeout_ms, 0,
         "a stream whose write has not completed this long (the client\n"
         "stopped reading, either delivery mode) ends with\n"
         "RESOURCE_EXHAUSTED \"client not reading\" (0: never)");
  number("--shutdown-timeout-ms", cfg.shutdown_timeout_ms, 1,
         "streams end and the process exits within this on SIGTERM");
  number("--malloc-trim-interval-ms", cfg.malloc_trim_interval_ms, 0,
         "this often, hands heap memory freed by ended sessions back\n"
         "to the OS if RSS exceeds the heap in use by 8 MiB and a\n"
         "quarter (0: never)");
  number("--actor-threads", cfg.actor_threads, 0,
         "actor scheduler threads (0: one per core)");
  // Limits per client (docs/security.md).
  const std::string limits = "Limits (docs/security.md)";
  number("--max-sessions-per-client", cfg.max_sessions_per_client, 0,
         "sessions one client (its identity, or its host without one)\n"
         "may have at once (0: no limit but --max-sessions)")
    ->group(limits);
  number("--start-rate", cfg.start_rate, 0,
         "Start/Subscribe/Update calls per second per client, a token\n"
         "bucket (0: no limit)")
    ->group(limits);
  number("--start-burst", cfg.start_burst, 0,
         "... of this many calls at once (0: as many as --start-rate)")
    ->group(limits);
  number("--max-tickers", cfg.max_tickers, 0,
         "distinct tickers (broadcasters) per node; a new ticker beyond\n"
         "it gets RESOURCE_EXHAUSTED (0: no limit)")
    ->group(limits);
  cl.bind_environment(
    app
      .add_option_function<std::string>(
        "--ticker-allowlist",
        [&cfg](const std::string& val) {
          read_allowlist(val, cfg.ticker_allowlist);
        },
        "only these tickers may be subscribed: one exact ticker or\n"
        "prefix ending in * per line (# comments); others get\n"
        "PERMISSION_DENIED (default: every valid ticker)")
      ->type_name("F")
      ->group(limits));
  number("--grpc-max-memory-mb", cfg.grpc_max_memory_mb, 0,
         "gRPC's resource quota: memory for its buffers (0: no limit)")
    ->group(limits);
  number("--grpc-max-threads", cfg.grpc_max_threads, 0,
         "gRPC's resource quota: threads (0: no limit)")
    ->group(limits);
  number("--max-concurrent-streams", cfg.max_concurrent_streams, 0,
         "calls at once per client connection (HTTP/2 streams; 0: no\n"
         "limit)")
    ->group(limits);
  // Operations (docs/operations.md).
  const std::string ops = "Operations (docs/operations.md)";
  address("--metrics-listen", cfg.metrics_listen, 0,
          "serves GET /metrics (Prometheus text format) and GET /healthz\n"
          "here (default: off; port 0: any free port, logged)")
    ->default_str("")
    ->group(ops);
  cl.add_switch("--metrics-allow-remote", cfg.metrics_allow_remote,
                "allows a non-loopback --metrics-listen")
    ->group(ops);
  number("--health-grace-ms", cfg.health_grace_ms, 0,
         "health says NOT_SERVING once Redis (on an edge: every hub)\n"
         "has been unreachable this long")
    ->group(ops);
  declare_log_flags(cl, cfg.log_level, cfg.log_format, ops);
  cl.add("--log-sessions", cfg.log_sessions,
         "one info line per session start and end")
    ->type_name("true|false")
    ->group(ops);
  // Cluster (docs/cluster.md).
  const std::string cluster = "Cluster (docs/cluster.md)";
  cl.bind_environment(
    app
      .add_option_function<std::string>(
        "--role",
        [&cfg](const std::string& val) {
          cfg.role = val == "hub"    ? node_role::hub
                     : val == "edge" ? node_role::edge
                                     : node_role::standalone;
        },
        "standalone: everything in one process; hub: Redis listener\n"
        "and broadcasters for edges, no gRPC (--grpc-listen is not\n"
        "used); edge: gRPC and sessions, ticks from the hubs (--redis\n"
        "is not used)")
      ->check(one_of({"standalone", "hub", "edge"}))
      ->type_name("standalone|hub|edge")
      ->default_str(role_name(cfg.role))
      ->group(cluster));
  address("--cluster-listen", cfg.cluster_listen, 0,
          "hub: where edges connect (port 0: any free port, printed as\n"
          "cluster= in the ready line)")
    ->group(cluster);
  cl.add("--hub", cfg.hubs,
         "edge: a hub; repeat for several (tickers are sharded over\n"
         "them by rendezvous hashing of the strings as given: give\n"
         "every edge the same list)")
    ->check(host_port_check(1))
    ->type_name("HOST:PORT")
    ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
    ->expected(1)
    ->allow_extra_args(false)
    ->default_str("")
    ->group(cluster);
  number("--heartbeat-interval-ms", cfg.heartbeat_interval_ms, 0,
         "BASP heartbeats between nodes (0: none)")
    ->group(cluster);
  number("--connection-timeout-ms", cfg.connection_timeout_ms, 1,
         "a peer node silent this long is dropped: a frozen or cut-off\n"
         "node is noticed within timeout + interval")
    ->group(cluster);
  number("--hub-retry-max-ms", cfg.hub_retry_max_ms, 100,
         "edge: cap of the reconnect backoff to a lost hub")
    ->group(cluster);
  for (auto [flag, member] :
       {std::pair{"--cluster-cert", &node_config::cluster_cert},
        std::pair{"--cluster-key", &node_config::cluster_key},
        std::pair{"--cluster-ca", &node_config::cluster_ca}})
    cl.add(flag, cfg.*member,
           "TLS between nodes (PEM; all three or none; every node of\n"
           "the cluster needs them)")
      ->check(readable_file())
      ->type_name("F")
      ->group(cluster);
  cl.bind_environment(
    app
      .add_option_function<std::string>(
        "--cluster-secret-file",
        [&cfg](const std::string& val) {
          auto secret = cluster_secret::read_secret_file(val);
          if (!secret)
            bad_flag("--cluster-secret-file: " + text_of(secret.error()));
          cfg.cluster_secret = std::move(*secret);
        },
        "a shared secret (the whole file but a trailing newline, at\n"
        "least 32 bytes; every node of the cluster needs the same):\n"
        "cluster links start with an HMAC challenge both ends must\n"
        "pass; instead of TLS, not with it (docs/security.md)")
      ->type_name("F")
      ->group(cluster));
  number("--cluster-protocol", cfg.cluster_protocol, 1,
         "claim protocol version N (tests of the version check only)")
    ->group(cluster);
  cl.check([&cfg] { check(cfg); });
}

} // namespace mm
