#include "app/options/bench_flags.hpp"

#include <string>
#include <utility>
#include <vector>

namespace mm {

const char* const bench_description =
  R"(Opens --sessions streams against a marketmonitor node (or mm-ceiling),
publishes --rate ticks/s to Redis itself, measures a window of --seconds and
prints one JSON document (stdout, or --json FILE) and a summary (stderr).
Exit status: 0 when the run completed (whatever the figures), 1 when the
target or Redis could not be reached, 2 on bad flags.)";

namespace {

/// The largest value of the decimal flags: far beyond any run, small enough
/// to print.
constexpr double max_decimal = 1e12;

/// Declares `flag` taking one of `names`; `set` gets the index of the name.
template <class Set>
CLI::Option* add_choice(command_line& cl, const std::string& flag,
                        std::vector<std::string> names, size_t default_index,
                        std::string help, Set set) {
  auto opt = cl.app().add_option_function<std::string>(
    flag,
    [names, set](const std::string& val) {
      for (size_t i = 0; i < names.size(); ++i)
        if (names[i] == val)
          set(i);
    },
    std::move(help));
  std::string type;
  for (const auto& x : names)
    type += (type.empty() ? "" : "|") + x;
  opt->check(one_of(names))->type_name(type)->default_str(names[default_index]);
  return cl.bind_environment(opt);
}

} // namespace

void declare_bench_flags(command_line& cl, bench::options& opts) {
  cl.add_address("--target", opts.target, 1, "gRPC server");
  cl.add_address("--redis", opts.redis, 1, "Redis the server reads");
  cl.add("--redis-prefix", opts.redis_prefix, "channel prefix")->type_name("P");
  cl.add_switch("--ceiling", opts.ceiling,
                "the target is mm-ceiling: it makes its own ticks,\n"
                "mm-bench publishes nothing");
  cl.add("--sessions", opts.sessions, "concurrent sessions")
    ->check(whole_number(0, 10'000'000))
    ->type_name("S");
  cl.add("--channels", opts.channels,
         "separate gRPC connections; sessions spread round\n"
         "robin over them")
    ->check(whole_number(1, 10'000))
    ->type_name("C");
  cl.add("--client-queues", opts.client_queues,
         "completion queues, each polled by its own thread;\n"
         "sessions spread round robin")
    ->check(whole_number(1, 256))
    ->type_name("Q");
  cl.add("--tickers", opts.tickers, "tickers BT00001..BT<T>")
    ->check(whole_number(1, 99'999))
    ->type_name("T");
  cl.add("--per-session", opts.per_session,
         "tickers per session, seeded choice")
    ->check(whole_number(1, 99'999))
    ->type_name("K");
  cl.add("--rate", opts.rate, "ticks/s over all tickers")
    ->check(decimal(0, max_decimal))
    ->type_name("R");
  cl.add("--seconds", opts.seconds, "measured window")
    ->check(decimal(0.1, max_decimal))
    ->type_name("D");
  cl.add("--warmup-seconds", opts.warmup_seconds,
         "after all sessions are up, before the window")
    ->check(decimal(0, max_decimal))
    ->type_name("W");
  add_choice(cl, "--mode", {"subscribe", "start-stream"}, 0,
             "Subscribe, or StartPriceMonitoring and\nStreamPriceUpdates",
             [&opts](size_t i) { opts.start_stream = i == 1; });
  cl.add("--flush-ms", opts.flush_ms, "SessionOptions.flush_interval_ms")
    ->check(whole_number(0, 3'600'000))
    ->type_name("N");
  add_choice(cl, "--delivery", {"conflate", "all"}, 0, "delivery mode",
             [&opts](size_t i) { opts.deliver_all = i == 1; });
  cl.add("--ramp-per-sec", opts.ramp_per_sec,
         "sessions started per second (0: at once)")
    ->check(decimal(0, max_decimal))
    ->type_name("N");
  cl.add("--max-starting", opts.max_starting,
         "at most N sessions started and not yet established\n(0: no limit)")
    ->check(whole_number(0, 10'000'000))
    ->type_name("N");
  cl.add("--establish-timeout", opts.establish_timeout,
         "wait this long for every session's first batch")
    ->check(decimal(1, max_decimal))
    ->type_name("S");
  cl.add("--server-pid", opts.server_pid,
         "sample CPU, RSS, threads, fds of this process")
    ->check(whole_number(1, 4'194'304))
    ->type_name("PID")
    ->default_str("");
  cl.add_address("--admin", opts.admin, 1,
                 "admin endpoint; `mm-shell` beside mm-bench reads\n"
                 "its `stats` to see whether the node went idle")
    ->default_str("");
  cl.add("--idle-seconds", opts.idle_seconds,
         "wait at most this long for the node to go idle\n"
         "after the clients left")
    ->check(decimal(0, max_decimal))
    ->type_name("N");
  cl.add("--churn", opts.churn,
         "afterwards, create and end N sessions one after\n"
         "another, cycling through the end reasons cancel,\n"
         "deadline, stop, stop-before-attach, abandon\n"
         "(never attached: the server's attach timeout)")
    ->check(whole_number(0, 100'000'000))
    ->type_name("N");
  cl.add("--churn-concurrency", opts.churn_concurrency,
         "churn sessions in flight")
    ->check(whole_number(1, 1'000'000))
    ->type_name("M");
  cl.add("--churn-hold-ms", opts.churn_hold_ms,
         "how long a churn session lives")
    ->check(whole_number(1, 3'600'000))
    ->type_name("N");
  cl.add("--seed", opts.seed, "seed of the ticker choice")
    ->check(whole_number(0, UINT64_MAX))
    ->type_name("N");
  cl.add("--json", opts.json_file,
         "write the JSON document here instead of stdout")
    ->type_name("FILE");
  cl.check([&opts] {
    if (opts.per_session > opts.tickers)
      bad_flag("--per-session: " + std::to_string(opts.per_session)
               + " is larger than --tickers (" + std::to_string(opts.tickers)
               + ")");
  });
}

const char* const ceiling_description =
  R"(Serves MarketMonitor.Subscribe for tickers BT00001..BT<T> whose ticks it
generates itself, as the plain-gRPC reference for mm-bench; also
StartPriceMonitoring, StreamPriceUpdates and StopPriceMonitoring (a session
is a map entry: one stream, dropped when its stream ends, when it is
stopped, or when no stream attached within --attach-timeout-ms). Prints
  mm-ceiling ready grpc=HOST:PORT
once it serves; SIGTERM / SIGINT end it.)";

void declare_ceiling_flags(command_line& cl, ceiling_options& opts) {
  cl.add_address("--grpc-listen", opts.listen, 0,
                 "address (port 0: any free port)");
  cl.add("--tickers", opts.tickers, "tickers generated")
    ->check(whole_number(1, 99'999))
    ->type_name("T");
  cl.add("--rate", opts.rate, "ticks/s over all tickers")
    ->check(decimal(0, max_decimal, true))
    ->type_name("R");
  cl.add("--max-batch", opts.max_batch, "updates per PriceBatch at most")
    ->check(whole_number(1))
    ->type_name("N");
  cl.add("--max-pending", opts.max_pending,
         "DELIVERY_MODE_ALL queue per stream; overflow ends\n"
         "the stream with RESOURCE_EXHAUSTED")
    ->check(whole_number(1))
    ->type_name("N");
  cl.add("--attach-timeout-ms", opts.attach_timeout_ms,
         "drops a started session that no stream attached\n"
         "to within N ms")
    ->check(whole_number(1, 86'400'000))
    ->type_name("N");
  cl.add("--grpc-queues", opts.grpc_queues,
         "completion queues for the streaming calls, each\n"
         "polled by its own thread")
    ->check(whole_number(1, 256))
    ->type_name("N");
}

} // namespace mm
