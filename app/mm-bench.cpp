// mm-bench: drives a running marketmonitor node (or mm-ceiling) like a
// client population and reports throughput, end-to-end latency and what it
// cost the server.
//
// Every stream is a gRPC callback reactor, so tens of thousands of streams
// run on gRPC's own few threads. The feed is a thread of ours publishing to
// Redis with `ts` = publish time; latency is receive time minus `ts`.

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "app/absl_mode.hpp"
#include "bench/feed_publisher.hpp"
#include "bench/latency_histogram.hpp"
#include "bench/process_sample.hpp"
#include "bench/ticker_names.hpp"
#include "marketmonitor/v1/market_monitor.grpc.pb.h"

namespace {

namespace pb = marketmonitor::v1;
using mm::bench::latency_histogram;
using mm::bench::process_sample;
using mm::bench::sample_process;

constexpr const char* usage = R"(Usage: mm-bench [FLAGS]

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

struct options {
  std::string target = "127.0.0.1:50051";
  std::string redis = "127.0.0.1:6379";
  std::string redis_prefix = "prices:";
  bool ceiling = false;
  uint64_t sessions = 1000;
  uint64_t channels = 4;
  uint64_t tickers = 100;
  uint64_t per_session = 5;
  double rate = 2000;
  double seconds = 10;
  double warmup_seconds = 2;
  bool start_stream = false;
  uint64_t flush_ms = 0;
  bool deliver_all = false;
  double ramp_per_sec = 0;
  double establish_timeout = 60;
  pid_t server_pid = 0;
  std::string admin;
  double idle_seconds = 10;
  uint64_t churn = 0;
  uint64_t churn_concurrency = 500;
  uint64_t churn_hold_ms = 50;
  uint64_t seed = 1;
  std::string json_file;
  std::vector<std::string> argv;
};

// --- time --------------------------------------------------------------------

int64_t clock_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

int64_t mono_ns() {
  return clock_ns(CLOCK_MONOTONIC);
}

int64_t real_ns() {
  return clock_ns(CLOCK_REALTIME);
}

double seconds_since(int64_t mono_start) {
  return static_cast<double>(mono_ns() - mono_start) / 1e9;
}

void sleep_for_ms(int64_t ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds{ms});
}

// --- flags -------------------------------------------------------------------

struct bad_flag {
  std::string what;
};

uint64_t to_u64(const std::string& name, const std::string& val,
                uint64_t min, uint64_t max) {
  errno = 0;
  char* end = nullptr;
  auto x = std::strtoull(val.c_str(), &end, 10);
  if (val.empty() || val[0] < '0' || val[0] > '9' || errno != 0
      || *end != '\0' || x < min || x > max)
    throw bad_flag{name + ": expected a whole number from "
                   + std::to_string(min) + " to " + std::to_string(max)
                   + ", got \"" + val + "\""};
  return x;
}

double to_double(const std::string& name, const std::string& val,
                 double min) {
  errno = 0;
  char* end = nullptr;
  auto x = std::strtod(val.c_str(), &end);
  if (val.empty() || errno != 0 || *end != '\0' || !std::isfinite(x)
      || x < min)
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

/// Returns false when --help was asked for.
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

// --- the client population ---------------------------------------------------

const char* code_name(grpc::StatusCode code) {
  switch (code) {
    case grpc::OK: return "OK";
    case grpc::CANCELLED: return "CANCELLED";
    case grpc::UNKNOWN: return "UNKNOWN";
    case grpc::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::NOT_FOUND: return "NOT_FOUND";
    case grpc::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::ABORTED: return "ABORTED";
    case grpc::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::INTERNAL: return "INTERNAL";
    case grpc::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::DATA_LOSS: return "DATA_LOSS";
    case grpc::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "CODE_UNKNOWN";
  }
}

/// Counters shared by every stream. Streams add once per batch.
struct population {
  latency_histogram latency;
  /// Updates count as delivered when their `ts` falls into the window.
  std::atomic<int64_t> window_begin{INT64_MAX};
  std::atomic<int64_t> window_end{INT64_MAX};
  std::atomic<uint64_t> updates_total{0};
  std::atomic<uint64_t> updates_window{0};
  std::atomic<uint64_t> conflated_window{0};
  std::atomic<uint64_t> batches_window{0};
  std::atomic<uint64_t> batches_total{0};
  /// Streams that received their first batch, and the last time one did.
  std::atomic<uint64_t> confirmed{0};
  std::atomic<int64_t> last_confirm_mono{0};
  /// Sessions whose stream (or start) completed, for whatever reason.
  std::atomic<uint64_t> done{0};
  /// StopPriceMonitoring calls not yet answered.
  std::atomic<uint64_t> stops_in_flight{0};

  std::mutex mtx;
  /// Streams that ended before we ended them, by status code.
  std::map<std::string, uint64_t> early_end;
  /// How streams ended after we ended them, by status code.
  std::map<std::string, uint64_t> end_status;
  /// StartPriceMonitoring / StopPriceMonitoring failures, by status code.
  std::map<std::string, uint64_t> unary_failures;
  /// The first error message seen per status code, to tell causes apart.
  std::map<std::string, std::string> messages;
  /// Updates whose seq skipped more ticks than their `conflated` says.
  std::atomic<uint64_t> seq_gaps{0};

  void count(std::map<std::string, uint64_t>& where, const std::string& key,
             const grpc::Status& st = grpc::Status::OK) {
    std::lock_guard<std::mutex> guard{mtx};
    ++where[key];
    if (!st.ok() && !st.error_message().empty())
      messages.emplace(code_name(st.error_code()), st.error_message());
  }
};

/// One session of the measured population: a Subscribe stream, or a
/// StartPriceMonitoring followed by a StreamPriceUpdates stream.
class bench_stream final : public grpc::ClientReadReactor<pb::PriceBatch> {
public:
  bench_stream(population& pop, pb::MarketMonitor::Stub& stub,
               pb::SubscribeRequest req, bool start_stream)
    : pop_(pop), stub_(stub), req_(std::move(req)),
      start_stream_(start_stream) {
    // nop
  }

  void start() {
    if (!start_stream_) {
      stub_.async()->Subscribe(&ctx_, &req_, this);
      stream();
      return;
    }
    *start_req_.mutable_tickers() = req_.tickers();
    *start_req_.mutable_options() = req_.options();
    stub_.async()->StartPriceMonitoring(
      &start_ctx_, &start_req_, &start_resp_, [this](grpc::Status st) {
        if (!st.ok()) {
          pop_.count(pop_.unary_failures,
                     std::string{"start:"} + code_name(st.error_code()), st);
          pop_.count(pop_.early_end, code_name(st.error_code()), st);
          state_ = done;
          pop_.done.fetch_add(1);
          return;
        }
        attach_req_.set_session_id(start_resp_.session_id());
        if (ended_by_us_) {
          // Too late: the run is over. The server's attach timeout ends it.
          state_ = done;
          pop_.done.fetch_add(1);
          return;
        }
        stub_.async()->StreamPriceUpdates(&ctx_, &attach_req_, this);
        state_ = streaming;
        stream();
      });
  }

  /// Ends the session the way its mode does: cancel the Subscribe call, or
  /// StopPriceMonitoring (the stream then ends with OK).
  void end() {
    ended_by_us_ = true;
    if (!start_stream_) {
      ctx_.TryCancel();
      return;
    }
    if (state_ != streaming)
      return;
    stop_req_.set_session_id(attach_req_.session_id());
    pop_.stops_in_flight.fetch_add(1);
    stub_.async()->StopPriceMonitoring(
      &stop_ctx_, &stop_req_, &stop_resp_, [this](grpc::Status st) {
        if (!st.ok())
          pop_.count(pop_.unary_failures,
                     std::string{"stop:"} + code_name(st.error_code()), st);
        pop_.stops_in_flight.fetch_sub(1);
      });
  }

  bool finished() const {
    return state_ == done;
  }

  void OnReadDone(bool ok) override {
    if (!ok)
      return; // OnDone follows.
    auto now = real_ns();
    auto begin = pop_.window_begin.load(std::memory_order_relaxed);
    auto end = pop_.window_end.load(std::memory_order_relaxed);
    thread_local std::vector<int64_t> latencies;
    latencies.clear();
    uint64_t conflated = 0;
    uint64_t gaps = 0;
    for (const auto& x : batch_.updates()) {
      // Consecutive updates of a ticker: seq may only skip what `conflated`
      // says was merged; anything more was lost.
      auto& last = last_seq(x.ticker());
      if (last != 0 && x.seq() > last + 1 + x.conflated())
        gaps += x.seq() - last - 1 - x.conflated();
      last = std::max<uint64_t>(last, x.seq());
      auto ts = x.ts_unix_nanos();
      if (ts >= begin && ts < end) {
        latencies.push_back(now - ts);
        conflated += x.conflated();
      }
    }
    if (gaps > 0)
      pop_.seq_gaps.fetch_add(gaps, std::memory_order_relaxed);
    auto n = static_cast<uint64_t>(batch_.updates_size());
    pop_.updates_total.fetch_add(n, std::memory_order_relaxed);
    pop_.batches_total.fetch_add(1, std::memory_order_relaxed);
    if (!latencies.empty()) {
      pop_.latency.record(latencies.data(), latencies.size());
      pop_.updates_window.fetch_add(latencies.size(),
                                    std::memory_order_relaxed);
      pop_.conflated_window.fetch_add(conflated, std::memory_order_relaxed);
      pop_.batches_window.fetch_add(1, std::memory_order_relaxed);
    }
    if (!confirmed_) {
      confirmed_ = true;
      pop_.confirmed.fetch_add(1);
      auto t = mono_ns();
      auto prev = pop_.last_confirm_mono.load();
      while (t > prev && !pop_.last_confirm_mono.compare_exchange_weak(prev, t))
        ; // retry
    }
    StartRead(&batch_);
  }

  void OnDone(const grpc::Status& st) override {
    pop_.count(ended_by_us_ ? pop_.end_status : pop_.early_end,
               code_name(st.error_code()), st);
    state_ = done;
    pop_.done.fetch_add(1);
  }

private:
  void stream() {
    StartRead(&batch_);
    StartCall();
  }

  /// The last seq seen of `ticker` (0: none yet); a session holds few.
  uint64_t& last_seq(const std::string& ticker) {
    for (auto& [name, seq] : seqs_)
      if (name == ticker)
        return seq;
    return seqs_.emplace_back(ticker, 0).second;
  }

  enum state { starting, streaming, done };

  std::vector<std::pair<std::string, uint64_t>> seqs_;

  population& pop_;
  pb::MarketMonitor::Stub& stub_;
  pb::SubscribeRequest req_;
  const bool start_stream_;
  std::atomic<int> state_{starting};
  std::atomic<bool> ended_by_us_{false};
  bool confirmed_ = false;
  grpc::ClientContext ctx_;
  pb::PriceBatch batch_;
  grpc::ClientContext start_ctx_;
  pb::StartPriceMonitoringRequest start_req_;
  pb::StartPriceMonitoringResponse start_resp_;
  pb::StreamPriceUpdatesRequest attach_req_;
  grpc::ClientContext stop_ctx_;
  pb::StopPriceMonitoringRequest stop_req_;
  pb::StopPriceMonitoringResponse stop_resp_;
};

// --- churn -------------------------------------------------------------------

/// The ways a churn session ends; each is used for every fifth session.
enum class churn_kind { cancel, deadline, stop, stop_unattached, abandon };

const char* kind_name(churn_kind k) {
  switch (k) {
    case churn_kind::cancel: return "cancel";
    case churn_kind::deadline: return "deadline";
    case churn_kind::stop: return "stop";
    case churn_kind::stop_unattached: return "stop-before-attach";
    default: return "abandon";
  }
}

class churn_call;

/// Runs the churn: keeps `concurrency` sessions in flight until `total`
/// have been created and ended, and fires their `hold` timers.
class churn_driver {
public:
  churn_driver(const options& opts,
               std::vector<std::unique_ptr<pb::MarketMonitor::Stub>>& stubs,
               std::function<pb::SubscribeRequest(uint64_t)> make_req)
    : opts_(opts), stubs_(stubs), make_req_(std::move(make_req)) {
    // nop
  }

  /// Returns false if calls were still in flight at the deadline.
  bool run(double timeout_s);

  void finished(churn_kind k, const char* where, const grpc::Status& st) {
    std::lock_guard<std::mutex> guard{mtx_};
    ++results_[std::string{kind_name(k)} + where + ":"
               + code_name(st.error_code())];
    --in_flight_;
    ++completed_;
  }

  void arm(int64_t due, std::shared_ptr<churn_call> call) {
    std::lock_guard<std::mutex> guard{mtx_};
    timers_.emplace_back(due, std::move(call));
  }

  std::map<std::string, uint64_t> results() {
    std::lock_guard<std::mutex> guard{mtx_};
    return results_;
  }

  uint64_t completed() {
    std::lock_guard<std::mutex> guard{mtx_};
    return completed_;
  }

  double seconds = 0;

private:
  const options& opts_;
  std::vector<std::unique_ptr<pb::MarketMonitor::Stub>>& stubs_;
  std::function<pb::SubscribeRequest(uint64_t)> make_req_;
  std::mutex mtx_;
  uint64_t in_flight_ = 0;
  uint64_t completed_ = 0;
  std::map<std::string, uint64_t> results_;
  /// Due times only grow (one hold for all), so a FIFO is a timer queue.
  std::deque<std::pair<int64_t, std::shared_ptr<churn_call>>> timers_;
};

/// One churn session; owns itself from start to its last completion.
class churn_call final : public grpc::ClientReadReactor<pb::PriceBatch>,
                         public std::enable_shared_from_this<churn_call> {
public:
  churn_call(churn_driver& driver, pb::MarketMonitor::Stub& stub,
             churn_kind kind, pb::SubscribeRequest req, int64_t hold_ns)
    : driver_(driver), stub_(stub), kind_(kind), req_(std::move(req)),
      hold_ns_(hold_ns) {
    // nop
  }

  void start() {
    switch (kind_) {
      case churn_kind::deadline:
        ctx_.set_deadline(std::chrono::system_clock::now()
                          + std::chrono::nanoseconds{hold_ns_});
        [[fallthrough]];
      case churn_kind::cancel:
        stub_.async()->Subscribe(&ctx_, &req_, this);
        stream();
        if (kind_ == churn_kind::cancel)
          driver_.arm(mono_ns() + hold_ns_, shared_from_this());
        return;
      default:
        break;
    }
    *start_req_.mutable_tickers() = req_.tickers();
    stub_.async()->StartPriceMonitoring(
      &start_ctx_, &start_req_, &start_resp_,
      [self = shared_from_this()](grpc::Status st) { self->on_started(st); });
  }

  /// The hold is over.
  void act() {
    if (kind_ == churn_kind::cancel)
      ctx_.TryCancel();
    else
      stop();
  }

  void OnReadDone(bool ok) override {
    if (ok)
      StartRead(&batch_);
  }

  void OnDone(const grpc::Status& st) override {
    finish(st);
    // The last reference may go here; touch nothing after.
    auto self = std::move(self_);
  }

private:
  /// The stream keeps us alive until its OnDone, unary calls until their
  /// callback, the driver until the hold is over.
  void stream() {
    self_ = shared_from_this();
    StartRead(&batch_);
    StartCall();
  }

  void on_started(const grpc::Status& st) {
    if (!st.ok() || kind_ == churn_kind::abandon) {
      finish(st, st.ok() ? "" : "(start rpc)");
      return;
    }
    attach_req_.set_session_id(start_resp_.session_id());
    if (kind_ == churn_kind::stop_unattached) {
      stop();
      return;
    }
    stub_.async()->StreamPriceUpdates(&ctx_, &attach_req_, this);
    stream();
    driver_.arm(mono_ns() + hold_ns_, shared_from_this());
  }

  void stop() {
    stop_req_.set_session_id(attach_req_.session_id());
    stub_.async()->StopPriceMonitoring(
      &stop_ctx_, &stop_req_, &stop_resp_,
      [self = shared_from_this()](grpc::Status st) {
        // With a stream, its end is the result; without, the Stop is. A
        // failed Stop leaves the stream open: cancel it.
        if (self->kind_ == churn_kind::stop_unattached) {
          self->finish(st);
        } else if (!st.ok()) {
          self->finish(st, "(stop rpc)");
          self->ctx_.TryCancel();
        }
      });
  }

  /// Records the session's result once.
  void finish(const grpc::Status& st, const char* where = "") {
    if (!finished_.exchange(true))
      driver_.finished(kind_, where, st);
  }

  churn_driver& driver_;
  pb::MarketMonitor::Stub& stub_;
  const churn_kind kind_;
  pb::SubscribeRequest req_;
  const int64_t hold_ns_;
  std::shared_ptr<churn_call> self_;
  std::atomic<bool> finished_{false};
  grpc::ClientContext ctx_;
  pb::PriceBatch batch_;
  grpc::ClientContext start_ctx_;
  pb::StartPriceMonitoringRequest start_req_;
  pb::StartPriceMonitoringResponse start_resp_;
  pb::StreamPriceUpdatesRequest attach_req_;
  grpc::ClientContext stop_ctx_;
  pb::StopPriceMonitoringRequest stop_req_;
  pb::StopPriceMonitoringResponse stop_resp_;
};

bool churn_driver::run(double timeout_s) {
  auto t0 = mono_ns();
  auto deadline = t0 + static_cast<int64_t>(timeout_s * 1e9);
  auto hold = static_cast<int64_t>(opts_.churn_hold_ms) * 1'000'000;
  uint64_t started = 0;
  static constexpr churn_kind kinds[] = {
    churn_kind::cancel, churn_kind::deadline, churn_kind::stop,
    churn_kind::stop_unattached, churn_kind::abandon};
  for (;;) {
    std::vector<std::shared_ptr<churn_call>> due;
    uint64_t room = 0;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (completed_ == opts_.churn)
        break;
      auto now = mono_ns();
      while (!timers_.empty() && timers_.front().first <= now) {
        due.push_back(std::move(timers_.front().second));
        timers_.pop_front();
      }
      if (in_flight_ < opts_.churn_concurrency)
        room = std::min(opts_.churn_concurrency - in_flight_,
                        opts_.churn - started);
      in_flight_ += room;
    }
    for (auto& call : due)
      call->act();
    for (uint64_t i = 0; i < room; ++i, ++started) {
      auto kind = kinds[started % 5];
      auto& stub = *stubs_[started % stubs_.size()];
      std::make_shared<churn_call>(*this, stub, kind, make_req_(started), hold)
        ->start();
    }
    if (mono_ns() > deadline) {
      seconds = seconds_since(t0);
      return false;
    }
    if (due.empty() && room == 0)
      sleep_for_ms(1);
  }
  seconds = seconds_since(t0);
  return true;
}

// --- the admin endpoint ------------------------------------------------------

std::string self_dir() {
  char buf[4096];
  auto n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0)
    return ".";
  std::string path{buf, static_cast<size_t>(n)};
  return path.substr(0, path.rfind('/'));
}

/// The node's `stats` as JSON text through `mm-shell`, or nothing when there
/// is no admin endpoint, no shell beside us, or no answer within 10 s.
std::optional<std::string> admin_stats(const options& opts) {
  if (opts.admin.empty())
    return std::nullopt;
  auto shell = self_dir() + "/mm-shell";
  if (access(shell.c_str(), X_OK) != 0)
    return std::nullopt;
  auto cmd = "timeout 10 '" + shell + "' --connect '" + opts.admin
             + "' -c stats --json 2>/dev/null";
  auto* p = popen(cmd.c_str(), "r");
  if (p == nullptr)
    return std::nullopt;
  std::string out;
  char buf[4096];
  while (auto n = fread(buf, 1, sizeof(buf), p))
    out.append(buf, n);
  if (pclose(p) != 0)
    return std::nullopt;
  auto first = out.find('{');
  auto last = out.rfind('}');
  if (first == std::string::npos || last == std::string::npos)
    return std::nullopt;
  return out.substr(first, last - first + 1);
}

/// The number under `"key":` in a flat JSON object, or -1.
long long json_number(const std::string& json, const std::string& key) {
  auto pos = json.find("\"" + key + "\"");
  if (pos == std::string::npos)
    return -1;
  pos = json.find(':', pos);
  if (pos == std::string::npos)
    return -1;
  return std::strtoll(json.c_str() + pos + 1, nullptr, 10);
}

bool stats_idle(const std::string& json) {
  return json_number(json, "sessions") == 0
         && json_number(json, "streams") == 0
         && json_number(json, "broadcasters") == 0;
}

/// Waits until the node reports idle (with an admin endpoint) or for the
/// whole `seconds` (without); returns "true", "false" or "unknown" and the
/// last stats seen.
std::pair<std::string, std::string> wait_idle(const options& opts,
                                              double seconds) {
  auto t0 = mono_ns();
  auto deadline = t0 + static_cast<int64_t>(seconds * 1e9);
  auto stats = admin_stats(opts);
  if (!stats) {
    while (mono_ns() < deadline)
      sleep_for_ms(100);
    return {"unknown", ""};
  }
  while (!stats_idle(*stats) && mono_ns() < deadline) {
    sleep_for_ms(500);
    if (auto next = admin_stats(opts))
      stats = std::move(next);
  }
  return {stats_idle(*stats) ? "true" : "false", *stats};
}

// --- the report --------------------------------------------------------------

/// Builds one JSON object; values are numbers, strings, bools or raw JSON.
class json_object {
public:
  json_object& num(const std::string& key, double x) {
    char buf[64];
    if (!std::isfinite(x))
      std::snprintf(buf, sizeof(buf), "null");
    else if (x == std::floor(x) && std::fabs(x) < 1e15)
      std::snprintf(buf, sizeof(buf), "%.0f", x);
    else
      std::snprintf(buf, sizeof(buf), "%.6g", x);
    return raw(key, buf);
  }

  json_object& str(const std::string& key, const std::string& x) {
    std::string quoted = "\"";
    for (auto c : x) {
      if (c == '"' || c == '\\')
        quoted += '\\';
      if (static_cast<unsigned char>(c) < 0x20)
        continue;
      quoted += c;
    }
    return raw(key, quoted + "\"");
  }

  json_object& boolean(const std::string& key, bool x) {
    return raw(key, x ? "true" : "false");
  }

  json_object& raw(const std::string& key, const std::string& json) {
    if (!body_.empty())
      body_ += ", ";
    body_ += "\"" + key + "\": " + json;
    return *this;
  }

  json_object& counts(const std::string& key,
                      const std::map<std::string, uint64_t>& xs) {
    json_object obj;
    for (const auto& [k, v] : xs)
      obj.num(k, static_cast<double>(v));
    return raw(key, obj.text());
  }

  std::string text() const {
    return "{" + body_ + "}";
  }

private:
  std::string body_;
};

double mb(uint64_t bytes) {
  return std::round(static_cast<double>(bytes) / 1048576.0 * 10) / 10;
}

double ms(int64_t ns) {
  return std::round(static_cast<double>(ns) / 1e3) / 1e3;
}

std::string format_counts(const std::map<std::string, uint64_t>& xs) {
  if (xs.empty())
    return "none";
  std::string out;
  for (const auto& [k, v] : xs)
    out += (out.empty() ? "" : ", ") + k + " " + std::to_string(v);
  return out;
}

/// Samples the server once a second in the background for the peaks.
class server_watch {
public:
  explicit server_watch(pid_t pid) : pid_(pid) {
    if (pid_ > 0)
      thread_ = std::thread{[this] { run(); }};
  }

  ~server_watch() {
    stop_ = true;
    if (thread_.joinable())
      thread_.join();
  }

  process_sample sample() {
    if (pid_ <= 0)
      return {};
    auto s = sample_process(pid_);
    note(s);
    return s;
  }

  uint64_t peak_rss() {
    std::lock_guard<std::mutex> guard{mtx_};
    return peak_rss_;
  }

  int peak_threads() {
    std::lock_guard<std::mutex> guard{mtx_};
    return peak_threads_;
  }

  int peak_fds() {
    std::lock_guard<std::mutex> guard{mtx_};
    return peak_fds_;
  }

private:
  void note(const process_sample& s) {
    if (!s.ok)
      return;
    std::lock_guard<std::mutex> guard{mtx_};
    peak_rss_ = std::max(peak_rss_, s.rss_bytes);
    peak_threads_ = std::max(peak_threads_, s.threads);
    peak_fds_ = std::max(peak_fds_, s.fds);
  }

  void run() {
    while (!stop_) {
      note(sample_process(pid_));
      for (int i = 0; i < 10 && !stop_; ++i)
        sleep_for_ms(100);
    }
  }

  pid_t pid_;
  std::mutex mtx_;
  uint64_t peak_rss_ = 0;
  int peak_threads_ = 0;
  int peak_fds_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

} // namespace

int main(int argc, char** argv) {
  options opts;
  mm::disable_mutex_deadlock_detection();
  try {
    if (!parse_flags(argc, argv, opts)) {
      std::fputs(usage, stdout);
      return 0;
    }
  } catch (const bad_flag& e) {
    std::fprintf(stderr, "mm-bench: %s\n", e.what.c_str());
    return 2;
  }
  // Many sessions need few descriptors (streams share connections), but
  // raise the soft limit anyway: it costs nothing.
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  auto log = [](const char* fmt, auto... xs) {
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
    auto ch = grpc::CreateCustomChannel(
      opts.target, grpc::InsecureChannelCredentials(), args);
    stubs.push_back(pb::MarketMonitor::NewStub(ch));
    channels.push_back(std::move(ch));
  }
  for (auto& ch : channels) {
    auto deadline = std::chrono::system_clock::now() + std::chrono::seconds{10};
    if (!ch->WaitForConnected(deadline)) {
      std::fprintf(stderr, "mm-bench: cannot connect to %s\n",
                   opts.target.c_str());
      return 1;
    }
  }

  std::unique_ptr<mm::bench::feed_publisher> feed;
  if (!opts.ceiling && opts.rate > 0) {
    auto colon = opts.redis.rfind(':');
    feed = std::make_unique<mm::bench::feed_publisher>(
      opts.redis.substr(0, colon), std::stoi(opts.redis.substr(colon + 1)),
      opts.redis_prefix, names, opts.rate);
    if (auto err = feed->connect(); !err.empty()) {
      std::fprintf(stderr, "mm-bench: cannot reach Redis at %s: %s\n",
                   opts.redis.c_str(), err.c_str());
      return 1;
    }
  }

  server_watch server{opts.server_pid};
  auto before = server.sample();
  auto stats_before = admin_stats(opts);

  // --- ramp up ---------------------------------------------------------------
  population pop;
  std::vector<uint64_t> subscribers(names.size(), 0);
  std::vector<std::unique_ptr<bench_stream>> streams;
  streams.reserve(opts.sessions);
  std::vector<std::vector<size_t>> chosen(opts.sessions);
  for (auto& idx : chosen)
    choose(idx);
  if (feed)
    feed->start();
  log("mm-bench: starting %llu sessions on %llu channels against %s\n",
      static_cast<unsigned long long>(opts.sessions),
      static_cast<unsigned long long>(opts.channels), opts.target.c_str());
  auto ramp_start = mono_ns();
  for (uint64_t i = 0; i < opts.sessions; ++i) {
    if (opts.ramp_per_sec > 0) {
      auto due = ramp_start
                 + static_cast<int64_t>(static_cast<double>(i) * 1e9
                                        / opts.ramp_per_sec);
      while (mono_ns() < due)
        sleep_for_ms(1);
    }
    streams.push_back(std::make_unique<bench_stream>(
      pop, *stubs[i % stubs.size()], make_req(chosen[i]), opts.start_stream));
    streams.back()->start();
  }
  auto ramp_seconds = seconds_since(ramp_start);
  // Established: the stream delivered its first batch (nothing else tells a
  // client that the server took the subscription).
  auto est_deadline = ramp_start
                      + static_cast<int64_t>(opts.establish_timeout * 1e9);
  while (pop.confirmed.load() + pop.done.load() < opts.sessions
         && mono_ns() < est_deadline)
    sleep_for_ms(10);
  auto confirmed = pop.confirmed.load();
  double establish_seconds = NAN;
  if (confirmed == opts.sessions && opts.sessions > 0)
    establish_seconds = static_cast<double>(pop.last_confirm_mono.load()
                                            - ramp_start)
                        / 1e9;
  log("mm-bench: %llu of %llu sessions delivered (%.1f s), warming up\n",
      static_cast<unsigned long long>(confirmed),
      static_cast<unsigned long long>(opts.sessions),
      seconds_since(ramp_start));
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
  log("mm-bench: measuring %.1f s\n", opts.seconds);
  while (real_ns() < w_end)
    sleep_for_ms(10);
  auto at_end = server.sample();
  auto self_end = sample_process(getpid());
  auto stats_end = admin_stats(opts);
  // Drain: what was published inside the window may still be on its way.
  auto quiet_ms = std::max<int64_t>(500, 3 * static_cast<int64_t>(opts.flush_ms));
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
    while ((pop.done.load() < opts.sessions || pop.stops_in_flight.load() > 0)
           && mono_ns() < deadline)
      sleep_for_ms(10);
  };
  auto end_start = mono_ns();
  end_population();
  auto end_seconds = seconds_since(end_start);
  auto all_done = pop.done.load() == opts.sessions
                  && pop.stops_in_flight.load() == 0;
  auto after = server.sample();

  std::string idle_before_churn = "n/a";
  std::string idle_stats_before_churn;
  process_sample baseline;
  std::unique_ptr<churn_driver> churn;
  bool churn_complete = true;
  if (opts.churn > 0) {
    log("mm-bench: clients left; waiting for idle before the churn\n");
    std::tie(idle_before_churn, idle_stats_before_churn)
      = wait_idle(opts, opts.idle_seconds);
    baseline = server.sample();
    log("mm-bench: churning %llu sessions, %llu at a time\n",
        static_cast<unsigned long long>(opts.churn),
        static_cast<unsigned long long>(opts.churn_concurrency));
    std::vector<size_t> idx;
    std::mutex rng_mtx;
    churn = std::make_unique<churn_driver>(opts, stubs, [&](uint64_t) {
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
  log("mm-bench: clients left; waiting for the node to go idle\n");
  auto [node_idle, idle_stats] = wait_idle(opts, opts.idle_seconds);
  auto after_idle = server.sample();

  // --- report ----------------------------------------------------------------
  auto delivered = static_cast<double>(pop.updates_window.load());
  auto conflated = static_cast<double>(pop.conflated_window.load());
  auto accounted = delivered + (opts.deliver_all ? 0.0 : conflated);
  auto window_s = static_cast<double>(window_ns) / 1e9;
  auto batches = static_cast<double>(pop.batches_window.load());
  auto& h = pop.latency;
  double server_cpu = at_end.ok && at_begin.ok
                        ? at_end.cpu_seconds - at_begin.cpu_seconds
                        : NAN;
  double cpu_per_million = delivered > 0 ? server_cpu / (delivered / 1e6) : NAN;
  double bench_cpu = self_end.cpu_seconds - self_begin.cpu_seconds;

  json_object cfg;
  cfg.str("target", opts.target)
    .boolean("ceiling", opts.ceiling)
    .str("mode", opts.start_stream ? "start-stream" : "subscribe")
    .num("sessions", static_cast<double>(opts.sessions))
    .num("channels", static_cast<double>(opts.channels))
    .num("tickers", static_cast<double>(opts.tickers))
    .num("per_session", static_cast<double>(opts.per_session))
    .num("rate", opts.rate)
    .num("seconds", opts.seconds)
    .num("warmup_seconds", opts.warmup_seconds)
    .num("flush_ms", static_cast<double>(opts.flush_ms))
    .str("delivery", opts.deliver_all ? "all" : "conflate")
    .num("ramp_per_sec", opts.ramp_per_sec)
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
    .raw("failure_messages", [&] {
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
      .num("rss_growth_pct",
           baseline.rss_bytes > 0
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

  log("\n== mm-bench %s against %s%s ==\n",
      opts.start_stream ? "start-stream" : "subscribe", opts.target.c_str(),
      opts.ceiling ? " (ceiling)" : "");
  log("sessions      %llu started, %llu established%s; ended early: %s\n",
      static_cast<unsigned long long>(streams.size()),
      static_cast<unsigned long long>(confirmed),
      std::isnan(establish_seconds)
        ? ""
        : (" in " + std::to_string(establish_seconds).substr(0, 5) + " s")
            .c_str(),
      format_counts(pop.early_end).c_str());
  log("updates       %.0f delivered + %.0f conflated of %.0f expected "
      "(%.2f %%), %.0f/s, mean batch %.2f\n",
      delivered, conflated, expected,
      expected > 0 ? accounted / expected * 100 : 0.0, delivered / window_s,
      batches > 0 ? delivered / batches : 0.0);
  if (!pop.messages.empty()) {
    std::string m;
    for (const auto& [k, v] : pop.messages)
      m += (m.empty() ? "" : "; ") + k + ": " + v;
    log("errors        %s\n", m.c_str());
  }
  log("lost          %llu updates by seq gaps not covered by conflated\n",
      static_cast<unsigned long long>(pop.seq_gaps.load()));
  log("latency ms    p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n",
      ms(h.quantile(0.5)), ms(h.quantile(0.9)), ms(h.quantile(0.99)),
      ms(h.quantile(0.999)), ms(h.max()));
  if (opts.server_pid > 0)
    log("server        %.2f CPU s per million updates (%.2f cores); RSS "
        "MB before %.1f, peak %.1f, after %.1f, after idle %.1f; threads "
        "peak %d, fds peak %d\n",
        cpu_per_million, server_cpu / window_s, mb(before.rss_bytes),
        mb(server.peak_rss()), mb(after.rss_bytes), mb(after_idle.rss_bytes),
        server.peak_threads(), server.peak_fds());
  log("ending        %s in %.2f s: %s\n",
      all_done ? "all ended" : "NOT all ended", end_seconds,
      format_counts(pop.end_status).c_str());
  if (churn)
    log("churn         %llu of %llu in %.1f s: %s\n",
        static_cast<unsigned long long>(churn->completed()),
        static_cast<unsigned long long>(opts.churn), churn->seconds,
        format_counts(churn->results()).c_str());
  log("node idle     %s\n", node_idle.c_str());
  // Calls still in flight (a server that never ended them) must not be
  // torn down under gRPC's feet: leave without destructors then.
  if (!all_done || !churn_complete) {
    std::fflush(stdout);
    std::_Exit(0);
  }
  streams.clear();
  return 0;
}
