// Soak tests: memory under session churn (docs/architecture.md rule 7). CAF
// 0.17 leaves a monitor's or link's attachable on the observed actor until that
// actor ends; a short-lived session that monitored a long-lived broadcaster
// or the registry would pin its dead memory there. So sessions are created
// and ended by the hundred thousand against broadcasters and a registry that
// stay up (one long-lived "keeper" subscriber per ticker keeps every
// broadcaster from lingering out), and the server's RSS must stay flat.
//
// They take minutes, so they run only with MM_SOAK=1 (scripts/soak sets it;
// the default suite skips them). Tunables, all optional:
//   MM_SOAK_SESSIONS     sessions of the memory test (default 100000)
//   MM_SOAK_MINUTES      length of the long churn (default 10, at least 3)
//   MM_SOAK_CONCURRENCY  churn sessions in flight (default 200)

#include "tests/integration/harness.hpp"
#include "tests/integration/mass_client.hpp"
#include "tests/integration/node_stats.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

namespace mm::test {
namespace {

constexpr int attach_timeout_ms = 500;
/// The server trims its heap this often; checkpoints wait for a trim, so
/// that RSS shows live memory rather than glibc's cache of freed chunks.
constexpr int trim_interval_ms = 1000;
constexpr milliseconds hold{20};
constexpr milliseconds deadline_after{300};

const std::vector<std::string> tickers = {"SK0", "SK1", "SK2", "SK3", "SK4",
                                          "SK5", "SK6", "SK7", "SK8", "SK9"};

bool soak_enabled() {
  auto* env = std::getenv("MM_SOAK");
  return env != nullptr && std::string{env} == "1";
}

long env_long(const char* name, long fallback, long min) {
  auto* env = std::getenv(name);
  if (env == nullptr || *env == '\0')
    return fallback;
  return std::max(min, std::atol(env));
}

/// Resident set size of `pid` in KiB, or -1.
long rss_kib(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stol(line.substr(6));
  return -1;
}

double mib(long kib) {
  return static_cast<double>(kib) / 1024.0;
}

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

/// The ways a churn session ends, used in turn.
enum class way { stop, cancel, deadline, stop_unattached, never_attached };

constexpr way ways[] = {way::stop, way::cancel, way::deadline,
                        way::stop_unattached, way::never_attached};

const char* way_name(way w) {
  switch (w) {
    case way::stop: return "stop";
    case way::cancel: return "cancel";
    case way::deadline: return "deadline";
    case way::stop_unattached: return "stop-unattached";
    default: return "never-attached";
  }
}

/// The status a session of each way ends with when all goes to plan.
grpc::StatusCode expected_code(way w) {
  switch (w) {
    case way::cancel: return grpc::StatusCode::CANCELLED;
    case way::deadline: return grpc::StatusCode::DEADLINE_EXCEEDED;
    default: return grpc::StatusCode::OK;
  }
}

class churn_session;

/// Keeps `concurrency` sessions in flight, each ending its way, and fires
/// their hold timers. Counts results by way and status code.
class churn_driver {
public:
  churn_driver(std::vector<pb::MarketMonitor::Stub*> stubs, size_t concurrency)
    : stubs_(std::move(stubs)), concurrency_(concurrency) {
    // nop
  }

  /// Starts sessions while `more()` says so, then waits for the ones in
  /// flight. Returns false if some were still in flight at `give_up`.
  bool run(const std::function<bool(uint64_t started)>& more,
           clock_type::time_point give_up);

  void finished(way w, const char* where, const grpc::Status& st) {
    std::lock_guard<std::mutex> guard{mtx_};
    auto key = std::string{way_name(w)} + where + ":"
               + std::to_string(static_cast<int>(st.error_code()));
    ++results_[key];
    if (st.error_code() != expected_code(w) || *where != '\0') {
      ++unexpected_;
      if (messages_.size() < 10)
        messages_.push_back(key + " " + st.error_message());
    }
    --in_flight_;
    ++completed_;
  }

  void arm(std::shared_ptr<churn_session> s) {
    std::lock_guard<std::mutex> guard{mtx_};
    timers_.emplace_back(clock_type::now() + hold, std::move(s));
  }

  uint64_t completed() {
    std::lock_guard<std::mutex> guard{mtx_};
    return completed_;
  }

  uint64_t unexpected() {
    std::lock_guard<std::mutex> guard{mtx_};
    return unexpected_;
  }

  /// Results as "way:code count, ..." and the first unexpected messages.
  std::string describe() {
    std::lock_guard<std::mutex> guard{mtx_};
    std::ostringstream out;
    for (auto& [k, v] : results_)
      out << k << " " << v << ", ";
    for (auto& m : messages_)
      out << "\n  unexpected: " << m;
    return out.str();
  }

  /// Sessions started per way.
  uint64_t started(way w) const {
    return started_by_way_[static_cast<size_t>(w)];
  }

private:
  std::vector<pb::MarketMonitor::Stub*> stubs_;
  size_t concurrency_;
  uint64_t started_ = 0;
  uint64_t started_by_way_[5] = {};
  std::mutex mtx_;
  uint64_t in_flight_ = 0;
  uint64_t completed_ = 0;
  uint64_t unexpected_ = 0;
  std::map<std::string, uint64_t> results_;
  std::vector<std::string> messages_;
  /// One hold for all: due times only grow, so a FIFO is a timer queue.
  std::deque<std::pair<clock_type::time_point, std::shared_ptr<churn_session>>>
    timers_;
};

/// One churn session. It owns itself: the stream holds it until OnDone, a
/// unary call until its callback, the driver until its hold is over.
class churn_session final : public grpc::ClientReadReactor<pb::PriceBatch>,
                            public std::enable_shared_from_this<churn_session> {
public:
  churn_session(churn_driver& driver, pb::MarketMonitor::Stub& stub, way w,
                size_t i)
    : driver_(driver), stub_(stub), way_(w) {
    // Two tickers each; the snapshot batch says the session is subscribed.
    sub_req_.add_tickers(tickers[i % tickers.size()]);
    sub_req_.add_tickers(tickers[(i + 3) % tickers.size()]);
    sub_req_.mutable_options()->set_snapshot(true);
  }

  void start() {
    if (way_ == way::cancel || way_ == way::deadline) {
      if (way_ == way::deadline)
        ctx_.set_deadline(deadline_in(deadline_after));
      stub_.async()->Subscribe(&ctx_, &sub_req_, this);
      read();
      return;
    }
    *start_req_.mutable_tickers() = sub_req_.tickers();
    *start_req_.mutable_options() = sub_req_.options();
    start_ctx_.set_deadline(deadline_in(milliseconds{30000}));
    stub_.async()->StartPriceMonitoring(
      &start_ctx_, &start_req_, &start_res_,
      [self = shared_from_this()](grpc::Status st) { self->started(st); });
  }

  /// The hold after the first batch is over: end the session.
  void hold_over() {
    if (way_ == way::cancel)
      ctx_.TryCancel();
    else
      stop();
  }

  void OnReadDone(bool ok) override {
    if (!ok)
      return; // OnDone follows
    if (!live_ && way_ != way::deadline) {
      live_ = true;
      driver_.arm(shared_from_this());
    }
    StartRead(&batch_);
  }

  void OnDone(const grpc::Status& st) override {
    finish(st);
    // The last reference may go here: touch nothing after.
    auto self = std::move(self_);
  }

private:
  void read() {
    self_ = shared_from_this();
    StartRead(&batch_);
    StartCall();
  }

  void started(const grpc::Status& st) {
    if (!st.ok()) {
      finish(st, "(start)");
      return;
    }
    if (way_ == way::never_attached) {
      finish(st); // the server's attach timeout ends it
      return;
    }
    stream_req_.set_session_id(start_res_.session_id());
    if (way_ == way::stop_unattached) {
      stop();
      return;
    }
    stub_.async()->StreamPriceUpdates(&ctx_, &stream_req_, this);
    read();
  }

  void stop() {
    stop_req_.set_session_id(stream_req_.session_id());
    stop_ctx_.set_deadline(deadline_in(milliseconds{30000}));
    stub_.async()->StopPriceMonitoring(
      &stop_ctx_, &stop_req_, &stop_res_,
      [self = shared_from_this()](grpc::Status st) {
        // With a stream its end is the result; without, the Stop is. A
        // failed Stop leaves the stream open: cancel it.
        if (self->way_ == way::stop_unattached) {
          self->finish(st);
        } else if (!st.ok()) {
          self->finish(st, "(stop)");
          self->ctx_.TryCancel();
        }
      });
  }

  void finish(const grpc::Status& st, const char* where = "") {
    if (!finished_.exchange(true))
      driver_.finished(way_, where, st);
  }

  churn_driver& driver_;
  pb::MarketMonitor::Stub& stub_;
  const way way_;
  bool live_ = false;
  std::atomic<bool> finished_{false};
  std::shared_ptr<churn_session> self_;
  grpc::ClientContext ctx_;
  pb::SubscribeRequest sub_req_;
  pb::PriceBatch batch_;
  grpc::ClientContext start_ctx_;
  pb::StartPriceMonitoringRequest start_req_;
  pb::StartPriceMonitoringResponse start_res_;
  pb::StreamPriceUpdatesRequest stream_req_;
  grpc::ClientContext stop_ctx_;
  pb::StopPriceMonitoringRequest stop_req_;
  pb::StopPriceMonitoringResponse stop_res_;
};

bool churn_driver::run(const std::function<bool(uint64_t)>& more,
                       clock_type::time_point give_up) {
  bool starting = true;
  for (;;) {
    std::vector<std::shared_ptr<churn_session>> due;
    uint64_t room = 0;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      auto now = clock_type::now();
      while (!timers_.empty() && timers_.front().first <= now) {
        due.push_back(std::move(timers_.front().second));
        timers_.pop_front();
      }
      if (starting && !more(started_))
        starting = false;
      if (!starting && in_flight_ == 0)
        return true;
      // Room for as many new sessions as `more` allows.
      while (starting && in_flight_ + room < concurrency_
             && more(started_ + room))
        ++room;
      in_flight_ += room;
    }
    for (auto& s : due)
      s->hold_over();
    for (uint64_t i = 0; i < room; ++i, ++started_) {
      auto w = ways[started_ % 5];
      ++started_by_way_[static_cast<size_t>(w)];
      auto& stub = *stubs_[started_ % stubs_.size()];
      std::make_shared<churn_session>(*this, stub, w, started_)->start();
    }
    if (clock_type::now() > give_up)
      return false;
    if (due.empty() && room == 0)
      std::this_thread::sleep_for(milliseconds{1});
  }
}

/// Samples the server's RSS every `interval` with the churn's progress.
class rss_sampler {
public:
  struct sample {
    double t;
    uint64_t completed;
    long rss_kib;
  };

  rss_sampler(pid_t pid, churn_driver& driver, milliseconds interval)
    : pid_(pid),
      driver_(driver),
      interval_(interval),
      t0_(clock_type::now()),
      thread_([this] { run(); }) {
    // nop
  }

  ~rss_sampler() {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  std::vector<sample> samples() {
    std::lock_guard<std::mutex> guard{mtx_};
    return samples_;
  }

private:
  void run() {
    std::unique_lock<std::mutex> guard{mtx_};
    auto next = t0_ + interval_;
    while (!cv_.wait_until(guard, next, [this] { return stop_; })) {
      next += interval_;
      guard.unlock();
      sample s{seconds_since(t0_), driver_.completed(), rss_kib(pid_)};
      std::cout << "  t=" << std::fixed << std::setprecision(0) << s.t
                << " s  sessions ended " << s.completed << "  RSS "
                << std::setprecision(1) << mib(s.rss_kib) << " MiB"
                << std::endl;
      guard.lock();
      samples_.push_back(s);
    }
  }

  pid_t pid_;
  churn_driver& driver_;
  milliseconds interval_;
  clock_type::time_point t0_;
  std::mutex mtx_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::vector<sample> samples_;
  std::thread thread_;
};

/// A server, a feed and one keeper per ticker: the fixture of both tests.
class soak : public ::testing::Test {
protected:
  void SetUp() override {
    if (!soak_enabled())
      GTEST_SKIP() << "soak test: runs with MM_SOAK=1 (scripts/soak)";
    redis_ = std::make_unique<redis_process>();
    server_ = std::make_unique<server_process>(
      *redis_, std::vector<std::string>{"--attach-timeout-ms",
                                        std::to_string(attach_timeout_ms),
                                        "--malloc-trim-interval-ms",
                                        std::to_string(trim_interval_ms)});
    admin_ = std::make_unique<admin_client>(server_->admin_address());
    for (int i = 0; i < 4; ++i) {
      grpc::ChannelArguments args;
      args.SetInt("mm.test.connection", i);
      stubs_.push_back(pb::MarketMonitor::NewStub(grpc::CreateCustomChannel(
        server_->grpc_address(), grpc::InsecureChannelCredentials(), args)));
    }
    // The keepers: broadcasters and their subscriptions stay up throughout.
    for (auto& t : tickers) {
      pb::SubscribeRequest req;
      req.add_tickers(t);
      req.mutable_options()->set_snapshot(true);
      keepers_.push_back(std::make_unique<churn_stream>());
      keepers_.back()->subscribe(*stubs_[0], req);
    }
    ASSERT_TRUE(all_live(keepers_, milliseconds{10000}));
    // The feed: 1,000 ticks/s over the tickers, so that broadcasters fan out
    // to churn sessions while they come and go.
    feed_ = std::thread{[this] {
      publisher fp{redis_->port()};
      int64_t ts = 0;
      while (feeding_) {
        for (auto& t : tickers) {
          ++ts;
          fp.publish_tick(t, 100.0 + static_cast<double>(ts % 7), 1, ts);
        }
        std::this_thread::sleep_for(milliseconds{10});
      }
    }};
  }

  void TearDown() override {
    feeding_ = false;
    if (feed_.joinable())
      feed_.join();
  }

  std::vector<pb::MarketMonitor::Stub*> stubs() {
    std::vector<pb::MarketMonitor::Stub*> xs;
    for (auto& s : stubs_)
      xs.push_back(s.get());
    return xs;
  }

  /// Waits until only the keepers are left on the server (the never-attached
  /// sessions need the attach timeout) and returns the stats then.
  node_stats settle() {
    auto keepers = static_cast<int64_t>(tickers.size());
    node_stats now;
    auto ok = wait_until(
      [&] {
        now = admin_->stats();
        return now.sessions == keepers && now.streams == keepers;
      },
      milliseconds{30000});
    EXPECT_TRUE(ok) << "churn sessions still live: " << now.describe();
    // Broadcasters never lingered out: the point of the keepers.
    EXPECT_EQ(now.broadcasters, keepers);
    EXPECT_EQ(now.redis_subscriptions, keepers);
    // Let the last exits finish freeing and the next heap trim pass.
    std::this_thread::sleep_for(milliseconds{2 * trim_interval_ms + 500});
    return admin_->stats();
  }

  /// Every keeper is still streaming and still gets updates.
  void expect_keepers_alive() {
    std::vector<uint64_t> before;
    for (auto& k : keepers_) {
      EXPECT_FALSE(k->done()) << "a keeper's stream ended";
      before.push_back(k->updates());
    }
    EXPECT_TRUE(wait_until(
      [&] {
        for (size_t i = 0; i < keepers_.size(); ++i)
          if (keepers_[i]->updates() <= before[i])
            return false;
        return true;
      },
      milliseconds{5000}))
      << "keepers stopped receiving updates";
  }

  std::unique_ptr<redis_process> redis_;
  std::unique_ptr<server_process> server_;
  std::unique_ptr<admin_client> admin_;
  std::vector<std::unique_ptr<pb::MarketMonitor::Stub>> stubs_;
  streams keepers_;
  std::atomic<bool> feeding_{true};
  std::thread feed_;
};

TEST_F(soak, memory_flat_over_100k_churned_sessions) {
  auto total =
    static_cast<uint64_t>(env_long("MM_SOAK_SESSIONS", 100000, 20000));
  auto concurrency =
    static_cast<size_t>(env_long("MM_SOAK_CONCURRENCY", 200, 1));
  constexpr uint64_t first = 10000;
  churn_driver driver{stubs(), concurrency};
  auto baseline = admin_->stats();
  auto t0 = clock_type::now();
  auto give_up = t0 + std::chrono::minutes{60};
  std::cout << "churning " << total << " sessions, " << concurrency
            << " at a time; server RSS " << std::fixed << std::setprecision(1)
            << mib(rss_kib(server_->pid())) << " MiB with " << tickers.size()
            << " keepers" << std::endl;
  rss_sampler sampler{server_->pid(), driver, milliseconds{10000}};
  ASSERT_TRUE(
    driver.run([&](uint64_t started) { return started < first; }, give_up))
    << driver.describe();
  auto at_first = settle();
  auto rss_first = rss_kib(server_->pid());
  std::cout << "after the first " << first << " sessions (" << std::fixed
            << std::setprecision(1) << seconds_since(t0) << " s): RSS "
            << mib(rss_first) << " MiB, " << at_first.describe() << std::endl;
  ASSERT_TRUE(
    driver.run([&](uint64_t started) { return started < total; }, give_up))
    << driver.describe();
  auto took = seconds_since(t0);
  auto at_end = settle();
  auto rss_end = rss_kib(server_->pid());
  auto growth =
    (static_cast<double>(rss_end) / static_cast<double>(rss_first) - 1) * 100;
  std::cout << "after all " << driver.completed() << " sessions ("
            << std::setprecision(1) << took << " s, " << std::setprecision(0)
            << static_cast<double>(driver.completed()) / took
            << " sessions/s): RSS " << std::setprecision(1) << mib(rss_end)
            << " MiB, " << std::showpos << growth << std::noshowpos
            << " % against the first " << first << "; " << at_end.describe()
            << "\nresults (way:grpc code): " << driver.describe() << std::endl;
  ::testing::Test::RecordProperty("rss_first_kib", static_cast<int>(rss_first));
  ::testing::Test::RecordProperty("rss_end_kib", static_cast<int>(rss_end));
  EXPECT_EQ(driver.completed(), total);
  EXPECT_EQ(driver.unexpected(), 0u) << driver.describe();
  // The server saw every session end, each for its reason.
  auto delta = [&](const std::string& reason) {
    return static_cast<uint64_t>(at_end.ended(reason) - baseline.ended(reason));
  };
  EXPECT_EQ(delta("stopped"),
            driver.started(way::stop) + driver.started(way::stop_unattached));
  EXPECT_EQ(delta("attach_timeout"), driver.started(way::never_attached));
  // A deadline may pass before the server made the session: then there was
  // none to end.
  auto created = static_cast<uint64_t>(at_end.sessions_created_total
                                       - baseline.sessions_created_total);
  EXPECT_LE(delta("stream_ended") + delta("deadline_exceeded"),
            driver.started(way::cancel) + driver.started(way::deadline));
  EXPECT_LE(delta("deadline_exceeded"), driver.started(way::deadline));
  // Every session the server made has ended.
  EXPECT_EQ(delta("stopped") + delta("stream_ended")
              + delta("deadline_exceeded") + delta("attach_timeout"),
            created);
  EXPECT_EQ(at_end.actors_running, at_first.actors_running);
  expect_keepers_alive();
  // docs/architecture.md rule 7: RSS after is within 10 % of RSS after
  // the first 10,000.
  EXPECT_LE(rss_end * 100, rss_first * 110)
    << "RSS grew from " << mib(rss_first) << " MiB to " << mib(rss_end)
    << " MiB";
}

TEST_F(soak, long_churn_memory_does_not_grow) {
  auto minutes = env_long("MM_SOAK_MINUTES", 10, 3);
  auto concurrency =
    static_cast<size_t>(env_long("MM_SOAK_CONCURRENCY", 200, 1));
  churn_driver driver{stubs(), concurrency};
  auto t0 = clock_type::now();
  auto end = t0 + std::chrono::minutes{minutes};
  std::cout << "churning for " << minutes << " minutes, " << concurrency
            << " at a time; RSS every 10 s" << std::endl;
  std::vector<rss_sampler::sample> samples;
  {
    rss_sampler sampler{server_->pid(), driver, milliseconds{10000}};
    ASSERT_TRUE(driver.run([&](uint64_t) { return clock_type::now() < end; },
                           end + std::chrono::minutes{2}))
      << driver.describe();
    samples = sampler.samples();
  }
  auto took = seconds_since(t0);
  auto at_end = settle();
  auto rss_end = rss_kib(server_->pid());
  // The second minute (after a minute of warm-up) against the last one.
  auto mean = [&](double from, double to) {
    double sum = 0;
    int n = 0;
    for (auto& s : samples)
      if (s.t > from && s.t <= to) {
        sum += static_cast<double>(s.rss_kib);
        ++n;
      }
    return n > 0 ? sum / n : NAN;
  };
  auto last = static_cast<double>(minutes) * 60;
  auto second_minute = mean(60, 120);
  auto last_minute = mean(last - 60, last);
  auto growth = (last_minute / second_minute - 1) * 100;
  std::cout << driver.completed() << " sessions in " << std::fixed
            << std::setprecision(0) << took << " s ("
            << static_cast<double>(driver.completed()) / took
            << " sessions/s); mean RSS " << std::setprecision(1)
            << mib(static_cast<long>(second_minute))
            << " MiB in the second minute, "
            << mib(static_cast<long>(last_minute))
            << " MiB in the last minute (" << std::showpos << growth
            << std::noshowpos << " %); after settling " << mib(rss_end)
            << " MiB; " << at_end.describe()
            << "\nresults (way:grpc code): " << driver.describe() << std::endl;
  EXPECT_EQ(driver.unexpected(), 0u) << driver.describe();
  EXPECT_GT(driver.completed(), 0u);
  expect_keepers_alive();
  ASSERT_FALSE(std::isnan(second_minute) || std::isnan(last_minute));
  EXPECT_LE(last_minute, second_minute * 1.05)
    << "RSS grew from the second minute to the last";
}

} // namespace
} // namespace mm::test
