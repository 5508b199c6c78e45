#include "bench/options.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <map>

namespace mm::bench {

const char* const usage = R"(Usage: mm-bench [FLAGS]

Opens --sessions streams against a marketmonitor node (or mm-ceiling),
publishes --rate ticks/s to Redis itself, measures a window of --seconds and
prints one JSON document (stdout, or --json FILE) and a summary (stderr).

Flags (also --flag=value):
  --target HOST:PORT      gRPC server (default 127.0.0.1:50051)
  --redis HOST:PORT       Redis the server reads (default 127.0.0.1:6379)
  --redis-prefix P        channel prefix (default prices:)
  --ceiling               the target is mm-ceiling: it makes its own ticks,
                          mm-bench publishes nothing
  --sessions S            concurrent sessions (default 1000)
  --channels C            separate gRPC connections, sessions spread round
                          robin (default 4)
  --client-queues Q       completion queues, each polled by its own thread;
                          sessions spread round robin (default 16)
  --tickers T             tickers BT00001..BT<T> (default 100)
  --per-session K         tickers per session, seeded choice (default 5)
  --rate R                ticks/s over all tickers (default 2000)
  --seconds D             measured window (default 10)
  --warmup-seconds W      after all sessions are up, before the window
                          (default 2)
  --mode M                subscribe | start-stream (default subscribe)
  --flush-ms N            SessionOptions.flush_interval_ms (default 0)
  --delivery M            conflate | all (default conflate)
  --ramp-per-sec N        sessions started per second (default 0: at once)
  --establish-timeout S   wait this long for every session's first batch
                          (default 60)
  --server-pid PID        sample CPU, RSS, threads, fds of this process
  --admin HOST:PORT       admin endpoint; `mm-shell` beside mm-bench reads
                          its `stats` to see whether the node went idle
  --idle-seconds N        wait at most this long for the node to go idle
                          after the clients left (default 10)
  --churn N               afterwards, create and end N sessions one after
                          another, cycling through the end reasons cancel,
                          deadline, stop, stop-before-attach, abandon
                          (never attached: the server's attach timeout)
  --churn-concurrency M   churn sessions in flight (default 500)
  --churn-hold-ms N       how long a churn session lives (default 50)
  --seed N                seed of the ticker choice (default 1)
  --json FILE             write the JSON document here instead of stdout
  --help                  print this help

Exit status: 0 when the run completed (whatever the figures), 1 when the
target or Redis could not be reached, 2 on bad flags.
)";

namespace {

uint64_t to_u64(const std::string& name, const std::string& val, uint64_t min,
                uint64_t max) {
  errno = 0;
  char* end = nullptr;
  auto x = std::strtoull(val.c_str(), &end, 10);
  if (val.empty() || val[0] < '0' || val[0] > '9' || errno != 0 || *end != '\0'
      || x < min || x > max)
    throw bad_flag{name + ": expected a whole number from "
                   + std::to_string(min) + " to " + std::to_string(max)
                   + ", got \"" + val + "\""};
  return x;
}

double to_double(const std::string& name, const std::string& val, double min) {
  errno = 0;
  char* end = nullptr;
  auto x = std::strtod(val.c_str(), &end);
  if (val.empty() || errno != 0 || *end != '\0' || !std::isfinite(x) || x < min)
    throw bad_flag{name + ": expected a number >= " + std::to_string(min)
                   + ", got \"" + val + "\""};
  return x;
}

std::string host_port(const std::string& name, const std::string& val) {
  auto colon = val.rfind(':');
  if (colon == std::string::npos || colon == 0)
    throw bad_flag{name + ": expected HOST:PORT, got \"" + val + "\""};
  to_u64(name, val.substr(colon + 1), 1, 65535);
  return val;
}

} // namespace

bool parse_flags(int argc, char** argv, options& opts) {
  using setter = std::function<void(const std::string&, const std::string&)>;
  std::map<std::string, setter> flags{
    {"--target", [&](auto& n, auto& v) { opts.target = host_port(n, v); }},
    {"--redis", [&](auto& n, auto& v) { opts.redis = host_port(n, v); }},
    {"--redis-prefix", [&](auto&, auto& v) { opts.redis_prefix = v; }},
    {"--sessions",
     [&](auto& n, auto& v) { opts.sessions = to_u64(n, v, 0, 10'000'000); }},
    {"--channels",
     [&](auto& n, auto& v) { opts.channels = to_u64(n, v, 1, 10'000); }},
    {"--client-queues",
     [&](auto& n, auto& v) { opts.client_queues = to_u64(n, v, 1, 256); }},
    {"--tickers",
     [&](auto& n, auto& v) { opts.tickers = to_u64(n, v, 1, 99'999); }},
    {"--per-session",
     [&](auto& n, auto& v) { opts.per_session = to_u64(n, v, 1, 99'999); }},
    {"--rate", [&](auto& n, auto& v) { opts.rate = to_double(n, v, 0); }},
    {"--seconds",
     [&](auto& n, auto& v) { opts.seconds = to_double(n, v, 0.1); }},
    {"--warmup-seconds",
     [&](auto& n, auto& v) { opts.warmup_seconds = to_double(n, v, 0); }},
    {"--mode",
     [&](auto& n, auto& v) {
       if (v != "subscribe" && v != "start-stream")
         throw bad_flag{n + ": expected subscribe or start-stream"};
       opts.start_stream = v == "start-stream";
     }},
    {"--flush-ms",
     [&](auto& n, auto& v) { opts.flush_ms = to_u64(n, v, 0, 3'600'000); }},
    {"--delivery",
     [&](auto& n, auto& v) {
       if (v != "conflate" && v != "all")
         throw bad_flag{n + ": expected conflate or all"};
       opts.deliver_all = v == "all";
     }},
    {"--ramp-per-sec",
     [&](auto& n, auto& v) { opts.ramp_per_sec = to_double(n, v, 0); }},
    {"--establish-timeout",
     [&](auto& n, auto& v) { opts.establish_timeout = to_double(n, v, 1); }},
    {"--server-pid",
     [&](auto& n, auto& v) {
       opts.server_pid = static_cast<pid_t>(to_u64(n, v, 1, 4'194'304));
     }},
    {"--admin", [&](auto& n, auto& v) { opts.admin = host_port(n, v); }},
    {"--idle-seconds",
     [&](auto& n, auto& v) { opts.idle_seconds = to_double(n, v, 0); }},
    {"--churn",
     [&](auto& n, auto& v) { opts.churn = to_u64(n, v, 0, 100'000'000); }},
    {"--churn-concurrency",
     [&](auto& n, auto& v) {
       opts.churn_concurrency = to_u64(n, v, 1, 1'000'000);
     }},
    {"--churn-hold-ms",
     [&](auto& n, auto& v) {
       opts.churn_hold_ms = to_u64(n, v, 1, 3'600'000);
     }},
    {"--seed", [&](auto& n, auto& v) { opts.seed = to_u64(n, v, 0, -1); }},
    {"--json", [&](auto&, auto& v) { opts.json_file = v; }},
  };
  for (int i = 0; i < argc; ++i)
    opts.argv.emplace_back(argv[i]);
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h")
      return false;
    if (arg == "--ceiling") {
      opts.ceiling = true;
      continue;
    }
    std::string name = arg;
    std::string val;
    bool has_val = false;
    if (auto eq = arg.find('='); eq != std::string::npos) {
      name = arg.substr(0, eq);
      val = arg.substr(eq + 1);
      has_val = true;
    }
    auto it = flags.find(name);
    if (it == flags.end())
      throw bad_flag{"unknown flag " + name + " (see --help)"};
    if (!has_val) {
      if (i + 1 >= argc)
        throw bad_flag{name + ": missing value"};
      val = argv[++i];
    }
    it->second(name, val);
  }
  if (opts.per_session > opts.tickers)
    throw bad_flag{"--per-session is larger than --tickers"};
  return true;
}

} // namespace mm::bench
