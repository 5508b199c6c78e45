// The redis listener against a real redis-server: subscriptions seen from
// Redis' side (PUBSUB NUMSUB / CHANNELS), ticks published with hiredis, and
// Redis killed and restarted on the same port under a live listener.

#include "actors/redis_listener.hpp"

#include <fcntl.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include "actors/messages.hpp"
#include "actors/metrics.hpp"
#include "actors/node_config.hpp"
#include "tests/integration/harness.hpp"

namespace {

using namespace std::chrono_literals;
using mm::test::wait_until;

/// Longer than the longest backoff step (5 s) plus a restart of Redis.
constexpr std::chrono::milliseconds reconnect_wait{15000};

/// A redis-server on a port we choose, so that it can be restarted on the
/// same port while the listener keeps its configuration.
class redis_on_port {
public:
  explicit redis_on_port(uint16_t port) : port_(port) {
    // nop
  }

  ~redis_on_port() {
    stop();
  }

  /// Starts the server and waits until it answers PING.
  bool start() {
    auto port = std::to_string(port_);
    pid_ = fork();
    if (pid_ == 0) {
      // Its banner and warnings would drown the test output.
      auto null_fd = open("/dev/null", O_WRONLY);
      if (null_fd >= 0)
        dup2(null_fd, STDOUT_FILENO);
      execlp("redis-server", "redis-server", "--port", port.c_str(), "--bind",
             "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel",
             "warning", static_cast<char*>(nullptr));
      _exit(127);
    }
    if (pid_ < 0)
      return false;
    return wait_until([this] { return ping(); });
  }

  /// Stops the server (SIGTERM, then SIGKILL) and reaps it.
  void stop() {
    if (pid_ > 0)
      mm::test::terminate_process(pid_, 5000ms);
    pid_ = -1;
  }

  /// Runs one command on a fresh connection; nullptr if Redis is away.
  std::unique_ptr<redisReply, void (*)(void*)>
  command(const std::vector<std::string>& args) const {
    std::unique_ptr<redisReply, void (*)(void*)> none{nullptr, freeReplyObject};
    timeval timeout{1, 0};
    auto ctx = redisConnectWithTimeout("127.0.0.1", port_, timeout);
    if (ctx == nullptr)
      return none;
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (auto& x : args) {
      argv.emplace_back(x.data());
      lens.emplace_back(x.size());
    }
    void* reply = nullptr;
    if (!ctx->err)
      reply = redisCommandArgv(ctx, static_cast<int>(argv.size()), argv.data(),
                               lens.data());
    redisFree(ctx);
    return {static_cast<redisReply*>(reply), freeReplyObject};
  }

  bool ping() const {
    auto reply = command({"PING"});
    return reply && reply->type == REDIS_REPLY_STATUS;
  }

  /// PUBSUB NUMSUB of one channel, or -1 if Redis does not answer.
  long long numsub(const std::string& channel) const {
    auto reply = command({"PUBSUB", "NUMSUB", channel});
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[1]->type != REDIS_REPLY_INTEGER)
      return -1;
    return reply->element[1]->integer;
  }

  /// PUBSUB CHANNELS `pattern`, sorted.
  std::vector<std::string> channels(const std::string& pattern) const {
    std::vector<std::string> result;
    auto reply = command({"PUBSUB", "CHANNELS", pattern});
    if (!reply || reply->type != REDIS_REPLY_ARRAY)
      return result;
    for (size_t i = 0; i < reply->elements; ++i)
      result.emplace_back(reply->element[i]->str, reply->element[i]->len);
    std::sort(result.begin(), result.end());
    return result;
  }

  uint16_t port() const {
    return port_;
  }

private:
  uint16_t port_;
  pid_t pid_ = -1;
};

/// What a test broadcaster received, read from the test thread.
struct tick_box {
  std::mutex mtx;
  std::vector<mm::tick> ticks;

  size_t size() {
    std::lock_guard<std::mutex> guard{mtx};
    return ticks.size();
  }

  mm::tick back() {
    std::lock_guard<std::mutex> guard{mtx};
    return ticks.back();
  }
};

using tick_box_ptr = std::shared_ptr<tick_box>;

/// Stands in for a ticker broadcaster.
caf::behavior recorder(caf::event_based_actor*, tick_box_ptr box) {
  return {
    [=](const mm::tick& x) {
      std::lock_guard<std::mutex> guard{box->mtx};
      box->ticks.emplace_back(x);
    },
    // The connection's state, as the listener tells every broadcaster.
    [](mm::upstream_atom, bool) {},
  };
}

struct system_config : caf::actor_system_config {
  system_config() {
    load<caf::io::middleman>();
    add_message_types<caf::id_block::marketmonitor>();
    set("logger.file-verbosity", caf::atom("quiet"));
  }
};

class redis_listener_it : public ::testing::Test {
protected:
  redis_listener_it() : redis(mm::test::pick_free_port()), sys(sys_cfg) {
    cfg.redis_host = "127.0.0.1";
    cfg.redis_port = redis.port();
    cfg.redis_prefix = "it" + std::to_string(getpid()) + ":";
  }

  ~redis_listener_it() override {
    for (auto& x : broadcasters)
      caf::anon_send_exit(x, caf::exit_reason::user_shutdown);
    if (listener)
      caf::anon_send_exit(listener, caf::exit_reason::user_shutdown);
  }

  void start_listener() {
    listener = mm::spawn_redis_listener(sys, cfg, stats);
  }

  /// Spawns a stand-in broadcaster and tells the listener to feed it; the
  /// stand-in handles what a listener sends a ticker broadcaster.
  caf::actor watch(const std::string& ticker, tick_box_ptr box) {
    auto bc = sys.spawn(recorder, std::move(box));
    broadcasters.emplace_back(bc);
    caf::anon_send(listener, mm::watch_atom::value, ticker,
                   caf::actor_cast<mm::ticker_broadcaster_actor>(bc));
    return bc;
  }

  std::string channel(const std::string& ticker) const {
    return cfg.redis_prefix + ticker;
  }

  bool wait_numsub(const std::string& ticker, long long n,
                   std::chrono::milliseconds timeout = mm::test::default_wait) {
    return wait_until([&] { return redis.numsub(channel(ticker)) == n; },
                      timeout);
  }

  // Declared before the actor system: the listener uses them until the
  // system is gone.
  mm::node_config cfg;
  mm::metrics stats;
  redis_on_port redis;
  system_config sys_cfg;
  caf::actor_system sys;
  mm::redis_listener_actor listener;
  std::vector<caf::actor> broadcasters;
};

TEST_F(redis_listener_it, subscriptions_follow_broadcasters) {
  ASSERT_TRUE(redis.start());
  start_listener();
  ASSERT_TRUE(wait_until([&] { return stats.redis_connected.load(); }));
  auto aapl = std::make_shared<tick_box>();
  auto msft = std::make_shared<tick_box>();
  auto aapl_bc = watch("AAPL", aapl);
  watch("MSFT", msft);
  ASSERT_TRUE(wait_numsub("AAPL", 1));
  ASSERT_TRUE(wait_numsub("MSFT", 1));
  EXPECT_EQ(redis.channels(cfg.redis_prefix + "*"),
            (std::vector<std::string>{channel("AAPL"), channel("MSFT")}));
  EXPECT_TRUE(wait_until([&] { return stats.redis_subscriptions == 2; }));
  // Ticks reach the broadcaster of their channel only.
  mm::test::publisher pub{redis.port(), cfg.redis_prefix};
  EXPECT_EQ(pub.publish("AAPL", mm::test::tick_json(189.25, 100, 42)), 1);
  ASSERT_TRUE(wait_until([&] { return aapl->size() == 1; }));
  EXPECT_EQ(aapl->back().price, 189.25);
  EXPECT_EQ(aapl->back().volume, 100);
  EXPECT_EQ(aapl->back().ts, 42);
  // A malformed payload is counted and dropped; the next good one arrives.
  pub.publish("AAPL", R"({"price": "cheap"})");
  ASSERT_TRUE(wait_until([&] { return stats.ticks_malformed_total == 1; }));
  pub.publish("AAPL", mm::test::tick_json(190.5, 1, 43));
  ASSERT_TRUE(wait_until([&] { return aapl->size() == 2; }));
  EXPECT_EQ(aapl->back().price, 190.5);
  EXPECT_EQ(msft->size(), 0u);
  EXPECT_EQ(stats.ticks_received_total, 2u);
  // The broadcaster ends: Redis sees the channel go.
  caf::anon_send_exit(aapl_bc, caf::exit_reason::user_shutdown);
  ASSERT_TRUE(wait_numsub("AAPL", 0));
  EXPECT_EQ(redis.channels(cfg.redis_prefix + "*"),
            (std::vector<std::string>{channel("MSFT")}));
  EXPECT_TRUE(wait_until([&] { return stats.redis_subscriptions == 1; }));
  EXPECT_EQ(redis.numsub(channel("MSFT")), 1);
}

TEST_F(redis_listener_it, reconnects_and_resubscribes_after_redis_restart) {
  ASSERT_TRUE(redis.start());
  start_listener();
  auto aapl = std::make_shared<tick_box>();
  auto msft = std::make_shared<tick_box>();
  watch("AAPL", aapl);
  watch("MSFT", msft);
  ASSERT_TRUE(wait_numsub("AAPL", 1));
  ASSERT_TRUE(wait_numsub("MSFT", 1));
  // Redis goes away under the live listener.
  redis.stop();
  ASSERT_TRUE(wait_until([&] { return !stats.redis_connected; }));
  EXPECT_EQ(stats.redis_subscriptions, 0);
  // A broadcaster that starts meanwhile is subscribed once Redis is back.
  auto nvda = std::make_shared<tick_box>();
  watch("NVDA", nvda);
  ASSERT_TRUE(redis.start());
  ASSERT_TRUE(
    wait_until([&] { return stats.redis_connected.load(); }, reconnect_wait));
  for (auto ticker : {"AAPL", "MSFT", "NVDA"})
    ASSERT_TRUE(wait_numsub(ticker, 1)) << ticker;
  EXPECT_TRUE(wait_until([&] { return stats.redis_subscriptions == 3; }));
  mm::test::publisher pub{redis.port(), cfg.redis_prefix};
  pub.publish("AAPL", mm::test::tick_json(1.5, 1, 1));
  pub.publish("MSFT", mm::test::tick_json(2.5, 2, 2));
  pub.publish("NVDA", mm::test::tick_json(3.5, 3, 3));
  ASSERT_TRUE(wait_until([&] { return aapl->size() == 1; }));
  ASSERT_TRUE(wait_until([&] { return msft->size() == 1; }));
  ASSERT_TRUE(wait_until([&] { return nvda->size() == 1; }));
  EXPECT_EQ(nvda->back().price, 3.5);
}

TEST_F(redis_listener_it, starts_without_redis_and_connects_later) {
  start_listener();
  auto aapl = std::make_shared<tick_box>();
  watch("AAPL", aapl);
  // Nothing listens on the port yet: the listener keeps retrying (the unit
  // test pins the backoff down; here the real connect path is exercised).
  EXPECT_FALSE(stats.redis_connected);
  ASSERT_TRUE(redis.start());
  ASSERT_TRUE(
    wait_until([&] { return stats.redis_connected.load(); }, reconnect_wait));
  ASSERT_TRUE(wait_numsub("AAPL", 1));
  mm::test::publisher pub{redis.port(), cfg.redis_prefix};
  pub.publish("AAPL", mm::test::tick_json(7.25, 7, 7));
  ASSERT_TRUE(wait_until([&] { return aapl->size() == 1; }));
}

} // namespace
