// End-to-end: sessions that end every possible way leave nothing behind.
// 2,000+ sessions end by Stop, client cancel, deadline, never attaching,
// their client process killed with SIGKILL, and their peer vanishing without
// a FIN or RST (a proxy that stops forwarding). Then, within the bound of
// docs/architecture.md rule 5 (keepalive + attach timeout + linger), the node
// is idle again: no sessions, streams, broadcasters or Redis subscriptions, and
// the actor count and open file descriptors are back at their baseline.

#include "tests/integration/harness.hpp"
#include "tests/integration/mass_client.hpp"
#include "tests/integration/node_stats.hpp"
#include "tests/integration/tcp_proxy.hpp"

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <map>
#include <random>

namespace mm::test {
namespace {

constexpr int keepalive_time_ms = 500;
// A test process answers the server's pings late while it reads 1,200
// streams on a busy machine (both processes run at nice 19 beside others):
// the server's trace (GRPC_TRACE=http_keepalive) showed acks of live
// connections up to 1.6 s late at a load average of 14 and up to 4 s at 26.
// With 1,500 ms the server took whole live connections for dead: their
// sessions ended before the test ended them, and the proxied connection,
// dropped before its 400 streams arrived, left them waiting for good ("0 of
// 400 live, 0 ended"): the proxy's close sent no FIN while the Python
// clients forked after it held copies of its sockets (both fixed in
// harness.cpp and tcp_proxy.cpp). So the server's default timeout (TSan
// keeps its 15 s); the idle bound below follows whatever is configured.
constexpr int keepalive_timeout_ms = std::max(10000, 1500 * sanitizer_slowdown);
constexpr int attach_timeout_ms = 1000;
constexpr int linger_ms = 300;
constexpr int per_way = 400;
constexpr int killed_clients = 8;

const std::vector<std::string> tickers = {"CH0", "CH1", "CH2", "CH3", "CH4",
                                          "CH5", "CH6", "CH7", "CH8", "CH9"};

pb::SubscribeRequest subscribe_request(size_t i) {
  pb::SubscribeRequest req;
  req.add_tickers(tickers[i % tickers.size()]);
  req.add_tickers(tickers[(i + 3) % tickers.size()]);
  // The snapshot batch comes once the session is subscribed: a sure sign
  // that it is live on the server.
  req.mutable_options()->set_snapshot(true);
  return req;
}

/// "N of M live, K ended (codes...)": what a failed wait saw.
std::string describe_streams(const streams& xs) {
  size_t live = 0;
  size_t ended = 0;
  std::map<int, size_t> codes;
  for (auto& x : xs) {
    if (x->batches() > 0)
      ++live;
    if (x->done()) {
      ++ended;
      ++codes[static_cast<int>(x->code())];
    }
  }
  auto str = std::to_string(live) + " of " + std::to_string(xs.size())
             + " live, " + std::to_string(ended) + " ended";
  for (auto& [code, n] : codes)
    str += " (" + std::to_string(n) + " with code " + std::to_string(code)
           + ")";
  return str;
}

size_t open_fds(pid_t pid) {
  auto path = "/proc/" + std::to_string(pid) + "/fd";
  size_t n = 0;
  if (auto* dir = opendir(path.c_str())) {
    while (auto* e = readdir(dir))
      if (e->d_name[0] != '.')
        ++n;
    closedir(dir);
  }
  return n;
}

/// Starts an independent client process (the Python client) on one session.
pid_t spawn_client_process(const std::string& target,
                           const std::string& ticker) {
  return spawn_quiet({"/usr/bin/python3",
                      std::string{MM_SOURCE_DIR} + "/scripts/mm_client.py",
                      "--target", target, "subscribe", ticker});
}

TEST(churn, sessions_ending_every_way_leave_the_node_idle) {
  redis_process redis;
  server_process server{
    redis,
    {"--keepalive-time-ms", std::to_string(keepalive_time_ms),
     "--keepalive-timeout-ms", std::to_string(keepalive_timeout_ms),
     "--min-client-ping-interval-ms", "100", "--attach-timeout-ms",
     std::to_string(attach_timeout_ms), "--linger-ms",
     std::to_string(linger_ms)}};
  admin_client admin{server.admin_address()};
  publisher pub{redis.port()};
  // Several channels: several connections, as from many clients.
  std::vector<std::unique_ptr<pb::MarketMonitor::Stub>> stubs;
  for (int i = 0; i < 4; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("mm.test.connection", i);
    stubs.push_back(pb::MarketMonitor::NewStub(grpc::CreateCustomChannel(
      server.grpc_address(), grpc::InsecureChannelCredentials(), args)));
  }
  auto stub = [&](size_t i) -> pb::MarketMonitor::Stub& {
    return *stubs[i % stubs.size()];
  };

  // Warm-up: one session of each kind, so that lazily created resources
  // (gRPC's threads and pollers, CAF's workers) exist in the baseline.
  {
    streams warm;
    for (size_t i = 0; i < 4; ++i) {
      warm.push_back(std::make_unique<churn_stream>());
      warm.back()->subscribe(stub(i), subscribe_request(i));
    }
    ASSERT_TRUE(all_live(warm, scaled_wait(milliseconds{10000})));
    for (auto& x : warm)
      x->cancel();
    ASSERT_TRUE(all_done(warm, scaled_wait(milliseconds{10000})));
  }
  ASSERT_TRUE(wait_until([&] { return admin.stats().idle(); },
                         scaled_wait(milliseconds{10000})))
    << admin.stats().describe();
  auto baseline = admin.stats();
  auto baseline_fds = open_fds(server.pid());
  std::cout << "baseline: " << baseline.describe() << " fds=" << baseline_fds
            << std::endl;

  // A feed keeps ticking while sessions come and go. Under TSan, ten times
  // slower: at the full rate its fan-out to the 1,200 streams of steps 1
  // to 3 kept the server's 2 cores so busy that a start in step 4 waited
  // more than the server's 10 s request bound.
  constexpr auto feed_interval = milliseconds{tsan_build ? 50 : 5};
  std::atomic<bool> feeding{true};
  std::thread feed{[&] {
    publisher fp{redis.port()};
    int64_t ts = 0;
    while (feeding) {
      for (auto& t : tickers) {
        ++ts;
        fp.publish_tick(t, 100.0 + static_cast<double>(ts % 7), 1, ts);
      }
      std::this_thread::sleep_for(feed_interval);
    }
  }};
  // A failed ASSERT returns early: stop the feed then too, or the joinable
  // thread's destructor aborts the test instead of reporting the failure.
  auto stop_feed = [&] {
    feeding = false;
    if (feed.joinable())
      feed.join();
  };
  struct on_return {
    std::function<void()> f;
    ~on_return() {
      f();
    }
  } feed_guard{stop_feed};

  // 1. StopPriceMonitoring: the stream ends OK.
  streams stopped;
  std::vector<std::string> stopped_ids;
  for (size_t i = 0; i < per_way; ++i) {
    pb::StartPriceMonitoringResponse res;
    pb::SessionOptions opts;
    opts.set_snapshot(true);
    ASSERT_TRUE(
      call_start(stub(i), {tickers[i % tickers.size()]}, opts, &res).ok());
    stopped_ids.push_back(res.session_id());
    stopped.push_back(std::make_unique<churn_stream>());
    stopped.back()->stream(stub(i), res.session_id());
  }
  // 2. Client cancel.
  streams cancelled;
  for (size_t i = 0; i < per_way; ++i) {
    cancelled.push_back(std::make_unique<churn_stream>());
    cancelled.back()->subscribe(stub(i), subscribe_request(i));
  }
  // 3. Deadline.
  streams expired;
  for (size_t i = 0; i < per_way; ++i) {
    expired.push_back(std::make_unique<churn_stream>());
    expired.back()->subscribe(stub(i), subscribe_request(i),
                              milliseconds{3000});
  }
  // 4. Never attached.
  for (size_t i = 0; i < per_way; ++i) {
    pb::StartPriceMonitoringResponse res;
    auto st = call_start(stub(i), {tickers[i % tickers.size()]}, {}, &res);
    ASSERT_TRUE(st.ok()) << "session " << i << ": " << st.error_code() << " "
                         << st.error_message();
  }
  // 5. Peers that vanish without FIN or RST, behind a proxy.
  tcp_proxy proxy{static_cast<uint16_t>(std::stoi(
    server.grpc_address().substr(server.grpc_address().rfind(':') + 1)))};
  auto proxied = pb::MarketMonitor::NewStub(
    grpc::CreateChannel("127.0.0.1:" + std::to_string(proxy.port()),
                        grpc::InsecureChannelCredentials()));
  streams vanished;
  for (size_t i = 0; i < per_way; ++i) {
    vanished.push_back(std::make_unique<churn_stream>());
    vanished.back()->subscribe(*proxied, subscribe_request(i));
  }
  // 6. Client processes killed with SIGKILL.
  std::vector<pid_t> clients;
  for (int i = 0; i < killed_clients; ++i)
    clients.push_back(
      spawn_client_process(server.grpc_address(), "CHK" + std::to_string(i)));
  // A ticker of its own per process: its channel shows up in Redis once
  // the process's session exists on the server.
  for (int i = 0; i < killed_clients; ++i)
    ASSERT_TRUE(pub.wait_subscribed("CHK" + std::to_string(i),
                                    scaled_wait(milliseconds{30000})))
      << "client process " << i << " did not start its session";

  ASSERT_TRUE(all_live(stopped, scaled_wait(milliseconds{20000})))
    << describe_streams(stopped);
  ASSERT_TRUE(all_live(cancelled, scaled_wait(milliseconds{20000})))
    << describe_streams(cancelled);
  ASSERT_TRUE(all_live(vanished, scaled_wait(milliseconds{20000})))
    << describe_streams(vanished) << "; the proxy accepted " << proxy.accepted()
    << " connections; node: " << admin.stats().describe();
  // (The never-attached and deadline sessions may have ended by now.)
  auto peak = admin.stats();
  std::cout << "peak: " << peak.describe() << std::endl;

  // Now every client leaves, each its own way.
  for (auto& x : cancelled)
    x->cancel();
  proxy.freeze();
  for (auto pid : clients) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  for (auto& id : stopped_ids) {
    auto status = call_stop(stub(0), id);
    ASSERT_TRUE(status.ok())
      << describe(status)
      << "; StreamPriceUpdates: " << describe_streams(stopped);
  }
  // The last client has left (the deadline ones leave on their own).
  auto left = clock_type::now();
  ASSERT_TRUE(all_done(stopped, scaled_wait(milliseconds{10000})));
  for (auto& x : stopped)
    EXPECT_EQ(x->code(), grpc::StatusCode::OK);
  ASSERT_TRUE(all_done(cancelled, scaled_wait(milliseconds{10000})));
  ASSERT_TRUE(all_done(expired, scaled_wait(milliseconds{10000})));
  for (auto& x : expired)
    EXPECT_EQ(x->code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  stop_feed();

  // docs/architecture.md rule 5: idle within keepalive + attach timeout +
  // linger (+ margin for a loaded 2-core machine, and for a sanitized build's
  // slowness: the bound is set by timers, the margin by how fast the node gets
  // through the work they start).
  auto bound = milliseconds{keepalive_time_ms + keepalive_timeout_ms
                            + attach_timeout_ms + linger_ms};
  auto margin = scaled_wait(milliseconds{5000});
  bool idle = wait_until(
    [&] {
      auto now = admin.stats();
      return now.idle() && now.actors_running == baseline.actors_running
             && open_fds(server.pid()) <= baseline_fds
             && pub.subscribers(tickers[0]) == 0;
    },
    bound + margin);
  auto took =
    std::chrono::duration_cast<milliseconds>(clock_type::now() - left);
  auto after = admin.stats();
  std::cout << "after: " << after.describe()
            << " fds=" << open_fds(server.pid()) << "\nidle after "
            << took.count() << " ms (bound " << bound.count() << " ms + "
            << margin.count() << " ms margin)" << std::endl;
  ::testing::Test::RecordProperty("idle_after_ms",
                                  static_cast<int>(took.count()));
  ::testing::Test::RecordProperty("bound_ms", static_cast<int>(bound.count()));
  EXPECT_TRUE(idle) << after.describe();
  EXPECT_EQ(after.sessions, 0);
  EXPECT_EQ(after.streams, 0);
  EXPECT_EQ(after.broadcasters, 0);
  EXPECT_EQ(after.redis_subscriptions, 0);
  EXPECT_EQ(after.actors_running, baseline.actors_running);
  EXPECT_LE(open_fds(server.pid()), baseline_fds);
  EXPECT_TRUE(redis_channels(redis.port(), "prices:*").empty());
  // Every session was counted by the way it ended.
  EXPECT_EQ(after.ended("stopped") - baseline.ended("stopped"),
            static_cast<int64_t>(per_way));
  EXPECT_EQ(after.ended("attach_timeout") - baseline.ended("attach_timeout"),
            static_cast<int64_t>(per_way));
  // Cancelled, vanished and killed clients end with stream_ended, the
  // expired ones with deadline_exceeded (as cancel if their reset came
  // before the server's deadline by more than the bridge's slack).
  auto deadline = after.ended("deadline_exceeded")
                  - baseline.ended("deadline_exceeded");
  EXPECT_GE(after.ended("stream_ended") - baseline.ended("stream_ended")
              + deadline,
            static_cast<int64_t>(3 * per_way + killed_clients));
  EXPECT_LE(deadline, static_cast<int64_t>(per_way));
  for (auto& x : vanished)
    x->cancel(); // the client side never heard either: end it locally
  EXPECT_TRUE(all_done(vanished, scaled_wait(milliseconds{10000})));
}

} // namespace
} // namespace mm::test
