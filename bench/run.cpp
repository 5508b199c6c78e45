#include "bench/run.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "bench/churn.hpp"
#include "bench/clock.hpp"
#include "bench/completion_queues.hpp"
#include "bench/feed_publisher.hpp"
#include "bench/process_sample.hpp"
#include "bench/report.hpp"
#include "bench/stream_client.hpp"
#include "bench/ticker_names.hpp"
#include "logging/log.hpp"
#include "marketmonitor/v1/market_monitor.grpc.pb.h"

namespace mm::bench {

namespace pb = marketmonitor::v1;

/// Threads that issue the starts of a run (see the ramp in `run`).
constexpr uint64_t starter_threads = 4;

int run(const options& opts) {
  // Many sessions need few descriptors (streams share connections), but
  // raise the soft limit anyway: it costs nothing.
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  // The summary on stderr is a report, not logging; progress and failures
  // go through the logging layer.
  auto report = [](const char* fmt, auto... xs) {
    std::fprintf(stderr, fmt, xs...);
    std::fflush(stderr);
  };

  // The choice of tickers per session is seeded: the same flags subscribe
  // the same sets, against ours and against the ceiling.
  auto names = mm::bench::ticker_names(opts.tickers);
  std::mt19937_64 rng{opts.seed};
  std::vector<size_t> pool(names.size());
  for (size_t i = 0; i < pool.size(); ++i)
    pool[i] = i;
  auto choose = [&](std::vector<size_t>& out) {
    out.clear();
    for (size_t i = 0; i < opts.per_session; ++i) {
      std::uniform_int_distribution<size_t> pick{i, pool.size() - 1};
      std::swap(pool[i], pool[pick(rng)]);
      out.push_back(pool[i]);
    }
  };
  auto make_req = [&](const std::vector<size_t>& idx) {
    pb::SubscribeRequest req;
    for (auto i : idx)
      req.add_tickers(names[i]);
    auto* o = req.mutable_options();
    o->set_flush_interval_ms(static_cast<uint32_t>(opts.flush_ms));
    o->set_mode(opts.deliver_all ? pb::DELIVERY_MODE_ALL
                                 : pb::DELIVERY_MODE_CONFLATE);
    return req;
  };

  // Separate connections: a distinct channel argument keeps gRPC from
  // sharing one subchannel between our channels.
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<pb::MarketMonitor::Stub>> stubs;
  for (uint64_t i = 0; i < opts.channels; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("mm.bench.channel", static_cast<int>(i));
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetMaxReceiveMessageSize(-1);
    auto ch = grpc::CreateCustomChannel(opts.target.to_string(),
                                        grpc::InsecureChannelCredentials(),
                                        args);
    stubs.push_back(pb::MarketMonitor::NewStub(ch));
    channels.push_back(std::move(ch));
  }
  for (auto& ch : channels) {
    auto deadline = std::chrono::system_clock::now() + std::chrono::seconds{10};
    if (!ch->WaitForConnected(deadline)) {
      mm::log::error("mm-bench", "cannot connect",
                     {{"target", opts.target.to_string()}});
      return 1;
    }
  }

  std::unique_ptr<mm::bench::feed_publisher> feed;
  if (!opts.ceiling && opts.rate > 0) {
    feed = std::make_unique<mm::bench::feed_publisher>(
      opts.redis.host, opts.redis.port, opts.redis_prefix, names, opts.rate);
    if (auto err = feed->connect(); !err.empty()) {
      mm::log::error("mm-bench", "cannot reach Redis",
                     {{"redis", opts.redis.to_string()}, {"error", err}});
      return 1;
    }
  }

  server_watch server{opts.server_pid};
  auto before = server.sample();
  auto stats_before = admin_stats(opts);

  // --- ramp up ---------------------------------------------------------------
  population pop;
  // Streams spread over the queues round robin, as over the channels.
  completion_queues cqs{opts.client_queues, "mm-bench-cq"};
  std::vector<uint64_t> subscribers(names.size(), 0);
  std::vector<std::unique_ptr<bench_stream>> streams(opts.sessions);
  std::vector<std::vector<size_t>> chosen(opts.sessions);
  for (auto& idx : chosen)
    choose(idx);
  if (feed)
    feed->start();
  mm::log::info("mm-bench", "starting sessions",
                {{"sessions", opts.sessions},
                 {"channels", opts.channels},
                 {"target", opts.target.to_string()}});
  auto ramp_start = mono_ns();
  // Starter threads issue the starts, each every `starters`-th session (so
  // each its own channels and queues, with its own malloc arena): from one
  // thread, issuing 50,000 starts took 21.4 s of a 24.9 s establishment
  // (docs/benchmarks.md, "Starts admitted as they are answered").
  // --max-starting (default: no limit): at most that many started and not
  // yet established (or ended), like a client pool that waits for its
  // connections; the limit holds until the establish timeout.
  auto starters = std::min<uint64_t>(starter_threads, opts.sessions);
  auto est_deadline = ramp_start
                      + static_cast<int64_t>(opts.establish_timeout * 1e9);
  std::atomic<uint64_t> issued{0};
  auto starting_now = [&] {
    return issued.load()
           - std::min(issued.load(), pop.confirmed.load() + pop.done.load());
  };
  auto start_share = [&](uint64_t first) {
    for (uint64_t i = first; i < opts.sessions; i += starters) {
      while (opts.max_starting > 0 && starting_now() >= opts.max_starting
             && mono_ns() < est_deadline)
        sleep_for_ms(1);
      if (opts.ramp_per_sec > 0) {
        auto due = ramp_start
                   + static_cast<int64_t>(static_cast<double>(i) * 1e9
                                          / opts.ramp_per_sec);
        while (mono_ns() < due)
          sleep_for_ms(1);
      }
      streams[i] =
        std::make_unique<bench_stream>(pop, *stubs[i % stubs.size()], cqs.at(i),
                                       make_req(chosen[i]), opts.start_stream);
      issued.fetch_add(1);
      streams[i]->start();
    }
  };
  std::vector<std::thread> starting;
  for (uint64_t t = 1; t < starters; ++t)
    starting.emplace_back(start_share, t);
  if (starters > 0)
    start_share(0);
  for (auto& t : starting)
    t.join();
  auto ramp_seconds = seconds_since(ramp_start);
  // Established: the stream delivered its first batch (nothing else tells a
  // client that the server took the subscription).
  while (pop.confirmed.load() + pop.done.load() < opts.sessions
         && mono_ns() < est_deadline)
    sleep_for_ms(10);
  auto confirmed = pop.confirmed.load();
  double establish_seconds = NAN;
  if (confirmed == opts.sessions && opts.sessions > 0)
    establish_seconds =
      static_cast<double>(pop.last_confirm_mono.load() - ramp_start) / 1e9;
  mm::log::info("mm-bench", "sessions delivered, warming up",
                {{"delivered", confirmed},
                 {"sessions", opts.sessions},
                 {"after_ms",
                  static_cast<int64_t>(seconds_since(ramp_start) * 1000)}});
  sleep_for_ms(static_cast<int64_t>(opts.warmup_seconds * 1000));

  // --- the measured window ---------------------------------------------------
  auto done_before_window = pop.done.load();
  auto window_ns = static_cast<int64_t>(opts.seconds * 1e9);
  auto w_begin = real_ns();
  auto w_end = w_begin + window_ns;
  if (feed)
    feed->set_window(w_begin, w_end);
  pop.window_end = w_end;
  pop.window_begin = w_begin;
  auto at_begin = server.sample();
  auto self_begin = sample_process(getpid());
  auto stats_begin = admin_stats(opts);
  mm::log::info("mm-bench", "measuring",
                {{"window_ms", static_cast<int64_t>(opts.seconds * 1000)}});
  while (real_ns() < w_end)
    sleep_for_ms(10);
  auto at_end = server.sample();
  auto self_end = sample_process(getpid());
  auto stats_end = admin_stats(opts);
  // Drain: what was published inside the window may still be on its way.
  auto quiet_ms = std::max<int64_t>(500,
                                    3 * static_cast<int64_t>(opts.flush_ms));
  auto drain_deadline = mono_ns() + 10'000'000'000 + quiet_ms * 1'000'000;
  auto last = pop.updates_window.load();
  auto last_change = mono_ns();
  while (mono_ns() < drain_deadline) {
    sleep_for_ms(50);
    auto now_count = pop.updates_window.load();
    if (now_count != last) {
      last = now_count;
      last_change = mono_ns();
    } else if (mono_ns() - last_change > quiet_ms * 1'000'000) {
      break;
    }
  }
  auto done_in_window = pop.done.load() - done_before_window;

  // Expected: every tick of the window, once per session alive at its start
  // holding the ticker. The ceiling generates round robin at the nominal
  // rate, so its count is the nominal one.
  for (uint64_t i = 0; i < opts.sessions; ++i)
    if (!streams[i]->finished())
      for (auto t : chosen[i])
        ++subscribers[t];
  double published_window = 0;
  double expected = 0;
  for (size_t t = 0; t < names.size(); ++t) {
    double ticks = 0;
    if (opts.ceiling)
      ticks = opts.rate / static_cast<double>(names.size()) * opts.seconds;
    else if (feed)
      ticks = 0; // read after the feed stopped, below
    published_window += ticks;
    expected += ticks * static_cast<double>(subscribers[t]);
  }
  // The churn runs with the feed still up: broadcasters stay busy.
  auto end_population = [&] {
    for (auto& s : streams)
      s->end();
    auto deadline = mono_ns() + 30'000'000'000;
    while ((pop.done.load() < opts.sessions || pop.stops_in_flight.load() > 0
            || pop.ops_in_flight.load() > 0)
           && mono_ns() < deadline)
      sleep_for_ms(10);
  };
  auto end_start = mono_ns();
  end_population();
  auto end_seconds = seconds_since(end_start);
  auto all_done = pop.done.load() == opts.sessions
                  && pop.stops_in_flight.load() == 0
                  && pop.ops_in_flight.load() == 0;
  auto after = server.sample();

  std::string idle_before_churn = "n/a";
  std::string idle_stats_before_churn;
  process_sample baseline;
  std::unique_ptr<churn_driver> churn;
  bool churn_complete = true;
  if (opts.churn > 0) {
    mm::log::info("mm-bench",
                  "clients left; waiting for idle before the churn");
    std::tie(idle_before_churn, idle_stats_before_churn) =
      wait_idle(opts, opts.idle_seconds);
    baseline = server.sample();
    mm::log::info("mm-bench", "churning",
                  {{"sessions", opts.churn},
                   {"at_a_time", opts.churn_concurrency}});
    std::vector<size_t> idx;
    std::mutex rng_mtx;
    churn = std::make_unique<churn_driver>(opts, stubs, cqs, [&](uint64_t) {
      std::lock_guard<std::mutex> guard{rng_mtx};
      choose(idx);
      return make_req(idx);
    });
    churn_complete = churn->run(600);
  }
  if (feed) {
    feed->stop();
    published_window = 0;
    expected = 0;
    const auto& counts = feed->published_in_window();
    for (size_t t = 0; t < names.size(); ++t) {
      published_window += static_cast<double>(counts[t]);
      expected += static_cast<double>(counts[t])
                  * static_cast<double>(subscribers[t]);
    }
  }
  mm::log::info("mm-bench", "clients left; waiting for the node to go idle");
  auto [node_idle, idle_stats] = wait_idle(opts, opts.idle_seconds);
  auto after_idle = server.sample();

  // --- report ----------------------------------------------------------------
  auto delivered = static_cast<double>(pop.updates_window.load());
  auto conflated = static_cast<double>(pop.conflated_window.load());
  auto accounted = delivered + (opts.deliver_all ? 0.0 : conflated);
  auto window_s = static_cast<double>(window_ns) / 1e9;
  auto batches = static_cast<double>(pop.batches_window.load());
  auto& h = pop.latency;
  double server_cpu =
    at_end.ok && at_begin.ok ? at_end.cpu_seconds - at_begin.cpu_seconds : NAN;
  double cpu_per_million = delivered > 0 ? server_cpu / (delivered / 1e6) : NAN;
  double bench_cpu = self_end.cpu_seconds - self_begin.cpu_seconds;

  json_object cfg;
  cfg.str("target", opts.target.to_string())
    .boolean("ceiling", opts.ceiling)
    .str("mode", opts.start_stream ? "start-stream" : "subscribe")
    .num("sessions", static_cast<double>(opts.sessions))
    .num("channels", static_cast<double>(opts.channels))
    .num("client_queues", static_cast<double>(opts.client_queues))
    .num("tickers", static_cast<double>(opts.tickers))
    .num("per_session", static_cast<double>(opts.per_session))
    .num("rate", opts.rate)
    .num("seconds", opts.seconds)
    .num("warmup_seconds", opts.warmup_seconds)
    .num("flush_ms", static_cast<double>(opts.flush_ms))
    .str("delivery", opts.deliver_all ? "all" : "conflate")
    .num("ramp_per_sec", opts.ramp_per_sec)
    .num("max_starting", static_cast<double>(opts.max_starting))
    .num("seed", static_cast<double>(opts.seed));
  std::string cmdline;
  for (const auto& a : opts.argv)
    cmdline += (cmdline.empty() ? "" : " ") + a;

  json_object lat;
  lat.num("count", static_cast<double>(h.count()))
    .num("mean", ms(static_cast<int64_t>(h.mean())))
    .num("p50", ms(h.quantile(0.50)))
    .num("p90", ms(h.quantile(0.90)))
    .num("p99", ms(h.quantile(0.99)))
    .num("p999", ms(h.quantile(0.999)))
    .num("max", ms(h.max()));

  json_object srv;
  if (opts.server_pid > 0) {
    srv.num("pid", opts.server_pid)
      .num("cpu_seconds_window", server_cpu)
      .num("cpu_s_per_million_updates", cpu_per_million)
      .num("cpu_cores_window", server_cpu / window_s)
      .num("rss_before_mb", mb(before.rss_bytes))
      .num("rss_window_start_mb", mb(at_begin.rss_bytes))
      .num("rss_window_end_mb", mb(at_end.rss_bytes))
      .num("rss_peak_mb", mb(server.peak_rss()))
      .num("rss_after_mb", mb(after.rss_bytes))
      .num("rss_after_idle_mb", mb(after_idle.rss_bytes))
      .num("threads_before", before.threads)
      .num("threads_peak", server.peak_threads())
      .num("threads_after_idle", after_idle.threads)
      .num("fds_before", before.fds)
      .num("fds_peak", server.peak_fds())
      .num("fds_after_idle", after_idle.fds);
  }

  json_object doc;
  doc.str("tool", "mm-bench")
    .str("command", cmdline)
    .raw("config", cfg.text())
    .num("sessions_started", static_cast<double>(streams.size()))
    .num("sessions_established", static_cast<double>(confirmed))
    .num("establish_seconds", establish_seconds)
    .num("ramp_seconds", ramp_seconds)
    .counts("failures", pop.early_end)
    .raw("failure_messages",
         [&] {
           json_object m;
           for (const auto& [k, v] : pop.messages)
             m.str(k, v);
           return m.text();
         }())
    .counts("unary_failures", pop.unary_failures)
    .num("sessions_ended_in_window", static_cast<double>(done_in_window))
    .counts("end_status", pop.end_status)
    .boolean("all_sessions_ended", all_done)
    .num("end_seconds", end_seconds)
    .num("window_seconds", window_s)
    .num("ticks_published_window", published_window)
    .num("updates_expected", expected)
    .num("updates_delivered", delivered)
    .num("updates_conflated", conflated)
    .num("updates_accounted", accounted)
    .num("delivery_ratio", expected > 0 ? accounted / expected : NAN)
    .num("updates_per_second", delivered / window_s)
    .num("batches", batches)
    .num("mean_batch", batches > 0 ? delivered / batches : NAN)
    .num("updates_total", static_cast<double>(pop.updates_total.load()))
    .num("updates_lost_seq_gaps", static_cast<double>(pop.seq_gaps.load()))
    .raw("latency_ms", lat.text())
    .raw("server", opts.server_pid > 0 ? srv.text() : "null")
    .num("bench_cpu_seconds_window", bench_cpu)
    .num("feed_errors", feed ? static_cast<double>(feed->errors()) : 0);
  if (churn) {
    json_object c;
    c.num("sessions", static_cast<double>(opts.churn))
      .num("completed", static_cast<double>(churn->completed()))
      .boolean("complete", churn_complete)
      .num("seconds", churn->seconds)
      .num("per_second",
           static_cast<double>(churn->completed()) / churn->seconds)
      .counts("results", churn->results())
      .str("node_idle_before", idle_before_churn)
      .num("rss_baseline_mb", mb(baseline.rss_bytes))
      .num("rss_after_idle_mb", mb(after_idle.rss_bytes))
      .num("rss_growth_pct", baseline.rss_bytes > 0
                               ? (static_cast<double>(after_idle.rss_bytes)
                                    / static_cast<double>(baseline.rss_bytes)
                                  - 1)
                                   * 100
                               : NAN);
    doc.raw("churn", c.text());
  }
  if (node_idle == "unknown")
    doc.str("node_idle", "unknown");
  else
    doc.boolean("node_idle", node_idle == "true");
  doc.raw("admin_stats_after", idle_stats.empty() ? "null" : idle_stats);
  doc.raw("admin_stats_window_end", stats_end ? *stats_end : "null");
  (void) stats_before;
  (void) stats_begin;

  auto text = doc.text() + "\n";
  if (opts.json_file.empty()) {
    std::fputs(text.c_str(), stdout);
  } else {
    std::ofstream out{opts.json_file};
    out << text;
  }

  report("\n== mm-bench %s against %s%s ==\n",
         opts.start_stream ? "start-stream" : "subscribe",
         opts.target.to_string().c_str(), opts.ceiling ? " (ceiling)" : "");
  report("sessions      %llu started, %llu established%s; ended early: %s\n",
         static_cast<unsigned long long>(streams.size()),
         static_cast<unsigned long long>(confirmed),
         std::isnan(establish_seconds)
           ? ""
           : (" in " + std::to_string(establish_seconds).substr(0, 5) + " s")
               .c_str(),
         format_counts(pop.early_end).c_str());
  report("updates       %.0f delivered + %.0f conflated of %.0f expected "
         "(%.2f %%), %.0f/s, mean batch %.2f\n",
         delivered, conflated, expected,
         expected > 0 ? accounted / expected * 100 : 0.0, delivered / window_s,
         batches > 0 ? delivered / batches : 0.0);
  if (!pop.messages.empty()) {
    std::string m;
    for (const auto& [k, v] : pop.messages)
      m += (m.empty() ? "" : "; ") + k + ": " + v;
    report("errors        %s\n", m.c_str());
  }
  report("lost          %llu updates by seq gaps not covered by conflated\n",
         static_cast<unsigned long long>(pop.seq_gaps.load()));
  report("latency ms    p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n",
         ms(h.quantile(0.5)), ms(h.quantile(0.9)), ms(h.quantile(0.99)),
         ms(h.quantile(0.999)), ms(h.max()));
  if (opts.server_pid > 0)
    report("server        %.2f CPU s per million updates (%.2f cores); RSS "
           "MB before %.1f, peak %.1f, after %.1f, after idle %.1f; threads "
           "peak %d, fds peak %d\n",
           cpu_per_million, server_cpu / window_s, mb(before.rss_bytes),
           mb(server.peak_rss()), mb(after.rss_bytes), mb(after_idle.rss_bytes),
           server.peak_threads(), server.peak_fds());
  report("ending        %s in %.2f s: %s\n",
         all_done ? "all ended" : "NOT all ended", end_seconds,
         format_counts(pop.end_status).c_str());
  if (churn)
    report("churn         %llu of %llu in %.1f s: %s\n",
           static_cast<unsigned long long>(churn->completed()),
           static_cast<unsigned long long>(opts.churn), churn->seconds,
           format_counts(churn->results()).c_str());
  report("node idle     %s\n", node_idle.c_str());
  // Calls still in flight (a server that never ended them) must not be
  // torn down under gRPC's feet: leave without destructors then.
  if (!all_done || !churn_complete) {
    std::fflush(stdout);
    std::_Exit(0);
  }
  // Every operation is back: the calls go, then the queues (shut down and
  // drained), then the channels.
  streams.clear();
  churn.reset();
  cqs.shutdown();
  return 0;
}

} // namespace mm::bench
