// mm-server: one marketmonitor node. Parses flags (and --config), builds the
// actor system and the node, serves gRPC and waits for SIGTERM / SIGINT.

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <malloc.h>
#include <pthread.h>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/publish.hpp>
#include <caf/openssl/publish.hpp>

#include "actors/cluster.hpp"
#include "actors/node.hpp"
#include "actors/node_config.hpp"
#include "app/absl_mode.hpp"
#include "service/grpc_service.hpp"

namespace {

constexpr const char* usage_text = R"(usage: mm-server [FLAGS]

Serves the marketmonitor gRPC API (with health and reflection) for price
ticks read from Redis pub/sub. Prints one line
  marketmonitor ready grpc=HOST:PORT admin=HOST:PORT
once it serves (a hub prints
  marketmonitor ready grpc=none admin=HOST:PORT cluster=HOST:PORT
instead). SIGTERM / SIGINT end every session (streams end with
UNAVAILABLE) and exit within --shutdown-timeout-ms; a second signal exits at
once.

Flags (also `--flag=value`):
  --grpc-listen HOST:PORT        gRPC address (default 0.0.0.0:50051; port 0:
                                 any free port, printed in the ready line)
  --redis HOST:PORT              Redis server (default 127.0.0.1:6379)
  --redis-prefix P               channel prefix, channel = P + TICKER
                                 (default "prices:")
  --redis-ping-ms N              PING Redis after N ms without a byte from
                                 it; N ms more of silence and the connection
                                 counts as dropped: reconnect (default 5000,
                                 0: never)
  --redis-connect-timeout-ms N   a connection attempt to Redis without an
                                 answer fails after N ms and is retried
                                 (default 3000)
  --admin-listen HOST:PORT       inspection endpoint for mm-shell (default
                                 127.0.0.1:50052; port 0: any free port,
                                 printed in the ready line)
  --admin-allow-remote           allows a non-loopback --admin-listen; needs
                                 an admin secret
  --admin-secret S               secret every mm-shell request must carry
  --admin-secret-file F          reads the secret from the first line of F
  --attach-timeout-ms N          a started session with no stream attached
                                 ends (default 30000)
  --linger-ms N                  a broadcaster with no subscribers ends
                                 (default 5000)
  --keepalive-time-ms N          gRPC keepalive ping interval (default 10000)
  --keepalive-timeout-ms N       a ping not acknowledged within this closes
                                 the connection (default 10000); a peer that
                                 vanished without closing TCP is found within
                                 keepalive time + timeout (20 s by default)
  --min-client-ping-interval-ms N
                                 clients may send keepalive pings this often
                                 (default 1000)
  --max-connection-idle-ms N     close connections without calls after this
                                 long (default 0: never)
  --max-connection-age-ms N      ask connections older than this to reconnect
                                 (default 0: never)
  --max-connection-age-grace-ms N
                                 calls get this long to finish after that
                                 (default 0: no limit)
  --max-request-bytes N          larger requests get RESOURCE_EXHAUSTED
                                 (default 65536)
  --grpc-queues N                completion queues serving the streams, one
                                 thread each (default 4)
  --flush-interval-ms N          default for sessions that do not set one;
                                 0: adaptive (default 0)
  --max-flush-interval-ms N      largest flush interval a client may ask for
                                 (default 60000)
  --max-batch N                  updates per PriceBatch at most (default 500)
  --max-sessions N               sessions per node (default 100000)
  --max-tickers-per-session N    tickers per session (default 100)
  --max-pending N                DELIVERY_MODE_ALL queue per session; overflow
                                 evicts with RESOURCE_EXHAUSTED (default 10000)
  --shutdown-timeout-ms N        streams end and the process exits within this
                                 on SIGTERM (default 5000)
  --malloc-trim-interval-ms N    hands heap memory freed by ended sessions
                                 back to the OS this often (default 10000;
                                 0: never)
  --actor-threads N              actor scheduler threads (default 0: one per
                                 core)
Cluster (docs/cluster.md):
  --role standalone|hub|edge     standalone (default): everything in one
                                 process; hub: Redis listener and
                                 broadcasters for edges, no gRPC (--grpc-listen
                                 is not used); edge: gRPC and sessions, ticks
                                 from the hubs (--redis is not used)
  --cluster-listen HOST:PORT     hub: where edges connect (port 0: any free
                                 port, printed as cluster= in the ready line)
  --hub HOST:PORT                edge: a hub; repeat for several (tickers are
                                 sharded over them by rendezvous hashing of
                                 the strings as given: give every edge the
                                 same list)
  --heartbeat-interval-ms N      BASP heartbeats between nodes (default 1000;
                                 0: none)
  --connection-timeout-ms N      a peer node silent this long is dropped
                                 (default 10000): a frozen or cut-off node is
                                 noticed within timeout + interval
  --hub-retry-max-ms N           edge: cap of the reconnect backoff to a lost
                                 hub (default 5000)
  --cluster-cert F, --cluster-key F, --cluster-ca F
                                 TLS between nodes (all three, PEM; every node
                                 of the cluster needs them)
  --cluster-protocol N           claim protocol version N (tests of the
                                 version check only)
  --config FILE                  reads the same keys as `key = value` lines
                                 (`#` starts a comment); flags given on the
                                 command line win
  --help                         prints this text

Exit status: 0 after a clean shutdown, 1 if it cannot serve (e.g. the port is
taken) or shutdown was forced, 2 on bad flags.
)";

/// A bad flag or config value, with the text for the operator.
struct bad_flag {
  std::string what;
};

/// Parses `HOST:PORT`; `min_port` is 0 where the system may pick the port.
std::pair<std::string, uint16_t> parse_host_port(const std::string& key,
                                                 const std::string& val,
                                                 unsigned min_port) {
  auto pos = val.rfind(':');
  auto fail = [&] {
    return bad_flag{"--" + key + ": expected HOST:PORT with a port from "
                    + std::to_string(min_port) + " to 65535, got \"" + val
                    + "\""};
  };
  if (pos == std::string::npos || pos == 0 || pos + 1 == val.size()
      || val.size() - pos - 1 > 5)
    throw fail();
  unsigned long port = 0;
  for (auto i = pos + 1; i < val.size(); ++i) {
    if (val[i] < '0' || val[i] > '9')
      throw fail();
    port = port * 10 + static_cast<unsigned long>(val[i] - '0');
  }
  if (port < min_port || port > 65535)
    throw fail();
  return {val.substr(0, pos), static_cast<uint16_t>(port)};
}

/// Parses a count or a duration in milliseconds, at least `min`. Values that
/// gRPC takes as `int` must fit one, so the top is INT32_MAX for all.
uint32_t parse_number(const std::string& key, const std::string& val,
                      uint32_t min) {
  constexpr uint64_t max = 2147483647;
  auto fail = [&] {
    return bad_flag{"--" + key + ": expected a whole number from "
                    + std::to_string(min) + " to " + std::to_string(max)
                    + ", got \"" + val + "\""};
  };
  if (val.empty() || val.size() > 10)
    throw fail();
  uint64_t x = 0;
  for (auto c : val) {
    if (c < '0' || c > '9')
      throw fail();
    x = x * 10 + static_cast<uint64_t>(c - '0');
  }
  if (x < min || x > max)
    throw fail();
  return static_cast<uint32_t>(x);
}

std::string trim(const std::string& x) {
  auto first = x.find_first_not_of(" \t\r\n");
  if (first == std::string::npos)
    return {};
  auto last = x.find_last_not_of(" \t\r\n");
  return x.substr(first, last - first + 1);
}

using setter = std::function<void(mm::node_config&, const std::string& key,
                                  const std::string& val)>;

setter number(uint32_t mm::node_config::*member, uint32_t min) {
  return [member, min](mm::node_config& cfg, const std::string& key,
                       const std::string& val) {
    cfg.*member = parse_number(key, val, min);
  };
}

/// A file that must be readable now.
setter file_flag(std::string mm::node_config::*member) {
  return [member](mm::node_config& cfg, const std::string& key,
                  const std::string& val) {
    std::ifstream in{val};
    if (!in)
      throw bad_flag{"--" + key + ": cannot read \"" + val + "\""};
    cfg.*member = val;
  };
}

/// Every key of the command line and of --config files.
const std::map<std::string, setter>& setters() {
  using mm::node_config;
  static const std::map<std::string, setter> result{
    {"grpc-listen",
     [](node_config& cfg, const std::string& key, const std::string& val) {
       parse_host_port(key, val, 0);
       cfg.grpc_listen = val;
     }},
    {"redis",
     [](node_config& cfg, const std::string& key, const std::string& val) {
       std::tie(cfg.redis_host, cfg.redis_port) = parse_host_port(key, val, 1);
     }},
    {"redis-prefix", [](node_config& cfg, const std::string&,
                        const std::string& val) { cfg.redis_prefix = val; }},
    {"redis-ping-ms", number(&node_config::redis_ping_ms, 0)},
    {"redis-connect-timeout-ms",
     number(&node_config::redis_connect_timeout_ms, 1)},
    {"admin-listen",
     [](node_config& cfg, const std::string& key, const std::string& val) {
       parse_host_port(key, val, 0);
       cfg.admin_listen = val;
     }},
    {"admin-allow-remote",
     [](node_config& cfg, const std::string& key, const std::string& val) {
       if (val == "true" || val == "1" || val == "yes")
         cfg.admin_allow_remote = true;
       else if (val == "false" || val == "0" || val == "no")
         cfg.admin_allow_remote = false;
       else
         throw bad_flag{"--" + key + ": expected true or false, got \"" + val
                        + "\""};
     }},
    {"admin-secret",
     [](node_config& cfg, const std::string& key, const std::string& val) {
       if (val.empty())
         throw bad_flag{"--" + key + ": the secret must not be empty"};
       cfg.admin_secret = val;
     }},
    {"admin-secret-file",
     [](node_config& cfg, const std::string& key, const std::string& val) {
       std::ifstream in{val};
       std::string line;
       if (!in || !std::getline(in, line))
         throw bad_flag{"--" + key + ": cannot read \"" + val + "\""};
       line = trim(line);
       if (line.empty())
         throw bad_flag{"--" + key + ": the first line of \"" + val
                        + "\" is empty"};
       cfg.admin_secret = line;
     }},
    {"role",
     [](node_config& cfg, const std::string& key, const std::string& val) {
       if (val == "standalone")
         cfg.role = mm::node_role::standalone;
       else if (val == "hub")
         cfg.role = mm::node_role::hub;
       else if (val == "edge")
         cfg.role = mm::node_role::edge;
       else
         throw bad_flag{"--" + key + ": expected standalone, hub or edge, "
                        "got \"" + val + "\""};
     }},
    {"cluster-listen",
     [](node_config& cfg, const std::string& key, const std::string& val) {
       parse_host_port(key, val, 0);
       cfg.cluster_listen = val;
     }},
    {"hub",
     [](node_config& cfg, const std::string& key, const std::string& val) {
       parse_host_port(key, val, 1);
       // Repeatable: every occurrence (file and command line) adds one.
       if (std::find(cfg.hubs.begin(), cfg.hubs.end(), val) == cfg.hubs.end())
         cfg.hubs.push_back(val);
     }},
    {"heartbeat-interval-ms", number(&node_config::heartbeat_interval_ms, 0)},
    {"connection-timeout-ms", number(&node_config::connection_timeout_ms, 1)},
    {"hub-retry-max-ms", number(&node_config::hub_retry_max_ms, 100)},
    {"cluster-cert", file_flag(&node_config::cluster_cert)},
    {"cluster-key", file_flag(&node_config::cluster_key)},
    {"cluster-ca", file_flag(&node_config::cluster_ca)},
    {"cluster-protocol", number(&node_config::cluster_protocol, 1)},
    {"attach-timeout-ms", number(&node_config::attach_timeout_ms, 1)},
    {"linger-ms", number(&node_config::linger_ms, 0)},
    {"keepalive-time-ms", number(&node_config::keepalive_time_ms, 1)},
    {"keepalive-timeout-ms", number(&node_config::keepalive_timeout_ms, 1)},
    {"min-client-ping-interval-ms",
     number(&node_config::min_client_ping_interval_ms, 1)},
    {"max-connection-idle-ms",
     number(&node_config::max_connection_idle_ms, 0)},
    {"max-connection-age-ms", number(&node_config::max_connection_age_ms, 0)},
    {"max-connection-age-grace-ms",
     number(&node_config::max_connection_age_grace_ms, 0)},
    {"max-request-bytes", number(&node_config::max_request_bytes, 1024)},
    {"grpc-queues", number(&node_config::grpc_queues, 1)},
    {"flush-interval-ms", number(&node_config::flush_interval_ms, 0)},
    {"max-flush-interval-ms", number(&node_config::max_flush_interval_ms, 1)},
    {"max-batch", number(&node_config::max_batch, 1)},
    {"max-sessions", number(&node_config::max_sessions, 1)},
    {"max-tickers-per-session",
     number(&node_config::max_tickers_per_session, 1)},
    {"max-pending", number(&node_config::max_pending, 1)},
    {"shutdown-timeout-ms", number(&node_config::shutdown_timeout_ms, 1)},
    {"malloc-trim-interval-ms",
     number(&node_config::malloc_trim_interval_ms, 0)},
    {"actor-threads", number(&node_config::actor_threads, 0)},
  };
  return result;
}

/// Whether `host` names this machine only.
bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host == "[::1]"
         || host.rfind("127.", 0) == 0;
}

/// Reads `key = value` lines of `path` into `out`.
void read_config(const std::string& path,
                 std::vector<std::pair<std::string, std::string>>& out) {
  std::ifstream in{path};
  if (!in)
    throw bad_flag{"--config: cannot read \"" + path + "\""};
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    // A comment starts a line or follows a blank, so values may hold '#'.
    for (size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '#'
          && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) {
        line.resize(i);
        break;
      }
    }
    line = trim(line);
    if (line.empty())
      continue;
    auto eq = line.find('=');
    auto where = path + ":" + std::to_string(n);
    if (eq == std::string::npos)
      throw bad_flag{where + ": expected `key = value`, got \"" + line + "\""};
    auto key = trim(line.substr(0, eq));
    if (key.rfind("--", 0) == 0)
      key.erase(0, 2);
    if (setters().count(key) == 0)
      throw bad_flag{where + ": unknown key \"" + key + "\""};
    out.emplace_back(key, trim(line.substr(eq + 1)));
  }
}

/// Parses the command line; returns false if it asked for --help.
bool parse_flags(int argc, char** argv, mm::node_config& cfg) {
  std::vector<std::pair<std::string, std::string>> flags;
  std::string config_file;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h")
      return false;
    if (arg.rfind("--", 0) != 0)
      throw bad_flag{"unexpected argument \"" + arg + "\" (see --help)"};
    std::string key = arg.substr(2);
    std::string val;
    if (auto eq = key.find('='); eq != std::string::npos) {
      val = key.substr(eq + 1);
      key.resize(eq);
    } else if (key == "admin-allow-remote") {
      val = "true"; // a switch: no value
    } else if (key == "config" || setters().count(key) != 0) {
      if (i + 1 >= argc)
        throw bad_flag{"--" + key + ": missing value"};
      val = argv[++i];
    }
    if (key == "config")
      config_file = val;
    else if (setters().count(key) == 0)
      throw bad_flag{"unknown flag --" + key + " (see --help)"};
    else
      flags.emplace_back(key, val);
  }
  // The file first, so that the command line wins.
  std::vector<std::pair<std::string, std::string>> settings;
  if (!config_file.empty())
    read_config(config_file, settings);
  settings.insert(settings.end(), flags.begin(), flags.end());
  for (const auto& [key, val] : settings)
    setters().at(key)(cfg, key, val);
  auto admin_host = parse_host_port("admin-listen", cfg.admin_listen, 0).first;
  if (!is_loopback(admin_host)) {
    if (!cfg.admin_allow_remote)
      throw bad_flag{"--admin-listen: " + admin_host
                     + " is not a loopback address; the inspection endpoint "
                       "can end sessions, so opening it to the network "
                       "needs --admin-allow-remote and an admin secret"};
    if (cfg.admin_secret.empty())
      throw bad_flag{"--admin-allow-remote: a non-loopback --admin-listen "
                     "needs --admin-secret or --admin-secret-file"};
  }
  using mm::node_role;
  if (cfg.role == node_role::hub && cfg.cluster_listen.empty())
    throw bad_flag{"--role hub: needs --cluster-listen HOST:PORT"};
  if (cfg.role != node_role::hub && !cfg.cluster_listen.empty())
    throw bad_flag{"--cluster-listen: only a hub listens for its cluster "
                   "(add --role hub)"};
  if (cfg.role == node_role::edge && cfg.hubs.empty())
    throw bad_flag{"--role edge: needs at least one --hub HOST:PORT"};
  if (cfg.role != node_role::edge && !cfg.hubs.empty())
    throw bad_flag{"--hub: only an edge connects to hubs (add --role edge)"};
  auto tls = !cfg.cluster_cert.empty() + !cfg.cluster_key.empty()
             + !cfg.cluster_ca.empty();
  if (tls != 0 && tls != 3)
    throw bad_flag{"--cluster-cert, --cluster-key and --cluster-ca go "
                   "together: give all three or none"};
  if (tls != 0 && cfg.role == node_role::standalone)
    throw bad_flag{"--cluster-cert: a standalone node has no cluster "
                   "(add --role hub or --role edge)"};
  if (cfg.heartbeat_interval_ms != 0
      && cfg.connection_timeout_ms <= cfg.heartbeat_interval_ms)
    throw bad_flag{"--connection-timeout-ms: "
                   + std::to_string(cfg.connection_timeout_ms)
                   + " must exceed --heartbeat-interval-ms "
                   + std::to_string(cfg.heartbeat_interval_ms)};
  if (cfg.flush_interval_ms > cfg.max_flush_interval_ms)
    throw bad_flag{"--flush-interval-ms: "
                   + std::to_string(cfg.flush_interval_ms)
                   + " is above --max-flush-interval-ms "
                   + std::to_string(cfg.max_flush_interval_ms)};
  return true;
}

/// Waits for a second signal or the end of the shutdown bound, whichever
/// comes first, and then ends the process at once.
void watch_shutdown(sigset_t signals, std::chrono::milliseconds bound) {
  auto deadline = std::chrono::steady_clock::now() + bound;
  for (;;) {
    auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero())
      break;
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left);
    timespec ts;
    ts.tv_sec = static_cast<time_t>(ns.count() / 1000000000);
    ts.tv_nsec = static_cast<long>(ns.count() % 1000000000);
    int sig = sigtimedwait(&signals, nullptr, &ts);
    if (sig > 0) {
      static const char msg[] = "mm-server: second signal, exiting now\n";
      [[maybe_unused]] auto n = write(STDERR_FILENO, msg, sizeof(msg) - 1);
      _exit(1);
    }
    if (errno != EINTR && errno != EAGAIN)
      break;
  }
  std::cerr << "mm-server: shutdown did not complete within " << bound.count()
            << " ms, exiting" << std::endl;
  _exit(1);
}

/// Calls malloc_trim every `interval`. glibc keeps memory freed by ended
/// sessions in its per-thread arenas (up to 8 per core) instead of returning
/// it; after a churn of 100,000 sessions a quiet node measured 38.7 MiB RSS
/// of which 1.5 MiB were in use, and the RSS left depended on which threads
/// happened to free what. Trimming keeps RSS close to live memory, so that
/// a leak shows and an operator's graph stays flat.
void trim_heap(std::chrono::milliseconds interval) {
  for (;;) {
    std::this_thread::sleep_for(interval);
    malloc_trim(0);
  }
}

/// Publishes the node's inspector on --admin-listen; returns the bound
/// HOST:PORT.
caf::expected<std::string> publish_admin(caf::actor_system& sys,
                                         mm::node& node) {
  auto [host, port] = parse_host_port("admin-listen",
                                      node.config().admin_listen, 0);
  auto bind_host = host;
  if (bind_host.size() > 2 && bind_host.front() == '[')
    bind_host = bind_host.substr(1, bind_host.size() - 2);
  auto bound = sys.middleman().publish(node.inspector(), port,
                                       bind_host.c_str(), true);
  if (!bound)
    return bound.error();
  return host + ":" + std::to_string(*bound);
}

/// Publishes a hub's ticker directory on --cluster-listen (with TLS when
/// configured); returns the bound HOST:PORT.
caf::expected<std::string> publish_cluster(mm::node& node) {
  auto& cfg = node.config();
  auto [host, port] = parse_host_port("cluster-listen", cfg.cluster_listen, 0);
  auto bind_host = host;
  if (bind_host.size() > 2 && bind_host.front() == '[')
    bind_host = bind_host.substr(1, bind_host.size() - 2);
  auto bound = cfg.cluster_cert.empty()
                 ? caf::io::publish(node.directory(), port, bind_host.c_str(),
                                    true)
                 : caf::openssl::publish(node.directory(), port,
                                         bind_host.c_str(), true);
  if (!bound)
    return bound.error();
  return host + ":" + std::to_string(*bound);
}

} // namespace

int main(int argc, char** argv) {
  mm::node_config cfg;
  mm::disable_mutex_deadlock_detection();
  try {
    if (!parse_flags(argc, argv, cfg)) {
      std::cout << usage_text;
      return 0;
    }
  } catch (const bad_flag& e) {
    std::cerr << "mm-server: " << e.what << std::endl;
    return 2;
  }
  // Block the signals before any thread exists: every thread inherits the
  // mask, and only sigwait below ever sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  // CAF's own command-line parsing never sees our flags.
  caf::actor_system_config sys_cfg;
  mm::configure(sys_cfg, cfg);
  caf::actor_system sys{sys_cfg};
  mm::node node{sys, cfg};
  // A hub serves edges only: its own gRPC sessions would subscribe Redis
  // for tickers that another hub owns.
  auto is_hub = cfg.role == mm::node_role::hub;
  mm::grpc_front front{sys, node};
  if (!is_hub) {
    if (auto what = front.start(); !what.empty()) {
      std::cerr << "mm-server: " << what << std::endl;
      node.shutdown();
      return 1;
    }
  }
  auto admin = publish_admin(sys, node);
  if (!admin) {
    std::cerr << "mm-server: cannot open the admin endpoint "
              << cfg.admin_listen << ": " << sys.render(admin.error())
              << std::endl;
    node.shutdown();
    if (!is_hub)
      front.shutdown(std::chrono::system_clock::now());
    return 1;
  }
  std::string cluster;
  if (is_hub) {
    auto bound = publish_cluster(node);
    if (!bound) {
      std::cerr << "mm-server: cannot open the cluster endpoint "
                << cfg.cluster_listen << ": " << sys.render(bound.error())
                << std::endl;
      node.shutdown();
      return 1;
    }
    cluster = *bound;
    node.announce(cluster, *admin);
    std::cout << "marketmonitor ready grpc=none admin=" << *admin
              << " cluster=" << cluster << std::endl;
  } else {
    node.announce(front.address(), *admin);
    std::cout << "marketmonitor ready grpc=" << front.address()
              << " admin=" << *admin << std::endl;
  }
  if (cfg.malloc_trim_interval_ms > 0)
    std::thread{trim_heap,
                std::chrono::milliseconds{cfg.malloc_trim_interval_ms}}
      .detach();
  int sig = 0;
  while (sigwait(&signals, &sig) != 0)
    ; // retry
  std::cerr << "mm-server: " << (sig == SIGINT ? "SIGINT" : "SIGTERM")
            << ", shutting down" << std::endl;
  auto bound = std::chrono::milliseconds{cfg.shutdown_timeout_ms};
  std::thread{watch_shutdown, signals, bound}.detach();
  // Sessions end first (their streams with UNAVAILABLE); gRPC gets most of
  // the bound for them, the rest is for tearing down the actors.
  node.shutdown();
  if (!is_hub)
    front.shutdown(std::chrono::system_clock::now() + bound * 4 / 5);
  return 0;
}
