// The redis listener against CAF's simulated network: what it writes to
// Redis is read from the test multiplexer's output buffer and Redis' replies
// are injected as raw RESP bytes, so every case runs without a Redis server
// and without timing.

#include "actors/redis_listener.hpp"

#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/io/network/test_multiplexer.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include <gtest/gtest.h>

#include "actors/messages.hpp"
#include "actors/metrics.hpp"
#include "actors/node_config.hpp"

namespace {

using namespace std::chrono_literals;
using caf::io::connection_handle;

struct test_config : caf::actor_system_config {
  test_config() {
    load<caf::io::middleman>();
    add_message_types<caf::id_block::marketmonitor>();
    set("scheduler.policy", caf::atom("testing"));
    set("middleman.network-backend", caf::atom("testing"));
    set("middleman.manual-multiplexing", true);
    set("middleman.workers", size_t{0});
    set("logger.file-verbosity", caf::atom("quiet"));
  }
};

using tick_log = std::shared_ptr<std::vector<mm::tick>>;
using upstream_log = std::shared_ptr<std::vector<bool>>;

/// Stands in for a ticker broadcaster: records every tick it gets, and what
/// it is told of the connection.
caf::behavior recorder(caf::event_based_actor*, tick_log log,
                       upstream_log ups) {
  return {
    [=](const mm::tick& x) { log->emplace_back(x); },
    [=](mm::upstream_atom, bool up) { ups->push_back(up); },
  };
}

std::string bulk(const std::string& x) {
  return "$" + std::to_string(x.size()) + "\r\n" + x + "\r\n";
}

/// The RESP of a command or of a pub/sub push made of bulk strings.
std::string resp(const std::vector<std::string>& xs) {
  auto result = "*" + std::to_string(xs.size()) + "\r\n";
  for (auto& x : xs)
    result += bulk(x);
  return result;
}

/// What Redis answers to (UN)SUBSCRIBE, once per channel.
std::string confirm(const std::string& kind, const std::string& channel,
                    int count) {
  return "*3\r\n" + bulk(kind) + bulk(channel) + ":" + std::to_string(count)
         + "\r\n";
}

std::string message(const std::string& channel, const std::string& payload) {
  return resp({"message", channel, payload});
}

const std::string good_payload =
  R"({"price": 189.25, "volume": 100, "ts": 1763800000123456789})";

class redis_listener_test : public ::testing::Test {
protected:
  redis_listener_test()
    : sys(sys_cfg),
      sched(dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())),
      mpx(dynamic_cast<caf::io::network::test_multiplexer&>(
        sys.middleman().backend())) {
    cfg.redis_host = "127.0.0.1";
    cfg.redis_port = 6379;
    cfg.redis_prefix = "prices:";
    // No liveness timer unless a test asks for one: the others count the
    // pending timers exactly.
    cfg.redis_ping_ms = 0;
    // CAF's own connect: the simulated network provides the connections.
    cfg.redis_connect_timeout_ms = 0;
  }

  ~redis_listener_test() override {
    for (auto& x : recorders)
      caf::anon_send_exit(x, caf::exit_reason::user_shutdown);
    if (listener)
      caf::anon_send_exit(listener, caf::exit_reason::user_shutdown);
    run();
  }

  /// Ends the liveness timer of the listener connected on `hdl`: a delayed
  /// message still pending at the end of a test keeps its actor alive past
  /// the actor system (LeakSanitizer reports it).
  void stop_liveness(connection_handle hdl) {
    cfg.redis_ping_ms = 0;   // The next check arms no further one ...
    reply(hdl, "+PONG\r\n"); // ... and, having heard Redis, closes nothing.
    fire_timer();
    EXPECT_FALSE(sched.clock().has_pending_timeout());
  }

  /// Runs actors and the simulated network until nothing moves.
  void run() {
    for (;;) {
      auto progress = sched.run() > 0;
      while (mpx.try_exec_runnable())
        progress = true;
      if (mpx.read_data())
        progress = true;
      if (!progress)
        return;
    }
  }

  connection_handle provide_connection() {
    auto hdl = connection_handle::from_int(++last_conn_id);
    mpx.provide_scribe(cfg.redis_host, cfg.redis_port, hdl);
    return hdl;
  }

  /// Starts the listener with a connection waiting for it.
  connection_handle start_connected() {
    auto hdl = provide_connection();
    listener = mm::spawn_redis_listener(sys, cfg, stats);
    run();
    return hdl;
  }

  caf::actor spawn_recorder(tick_log log) {
    auto result = sys.spawn(recorder, std::move(log), ups);
    recorders.emplace_back(result);
    return result;
  }

  /// `broadcaster` stands in for a ticker broadcaster: it handles the part
  /// of that interface a listener uses (tick, upstream_atom).
  void watch(const std::string& ticker, const caf::actor& broadcaster) {
    caf::anon_send(listener, mm::watch_atom::value, ticker,
                   caf::actor_cast<mm::ticker_broadcaster_actor>(broadcaster));
    run();
  }

  /// Returns and clears what the listener wrote to `hdl`.
  std::string written(connection_handle hdl) {
    auto& buf = mpx.output_buffer(hdl);
    std::string result{buf.begin(), buf.end()};
    buf.clear();
    return result;
  }

  /// Delivers `bytes` as Redis would, in one read.
  void reply(connection_handle hdl, const std::string& bytes) {
    mpx.virtual_send(hdl, {bytes.begin(), bytes.end()});
    run();
  }

  /// After a drop: the next connection comes up on the backoff timer,
  /// subscribes AAPL (the only watched ticker) again, and its ticks reach
  /// `log`, which had none before.
  void expect_aapl_back(const std::vector<mm::tick>& log) {
    auto conn = provide_connection();
    fire_timer();
    EXPECT_TRUE(stats.redis_connected);
    EXPECT_EQ(written(conn), resp({"SUBSCRIBE", "prices:AAPL"}));
    reply(conn, message("prices:AAPL", good_payload));
    EXPECT_EQ(log.size(), 1u);
  }

  /// The listener's pending backoff timer, relative to now.
  caf::timespan pending_delay() {
    auto& clock = sched.clock();
    EXPECT_EQ(clock.schedule().size(), 1u);
    if (clock.schedule().empty())
      return caf::timespan{0};
    return clock.schedule().begin()->first - clock.now();
  }

  /// Fires the backoff timer and lets the listener act on it.
  void fire_timer() {
    ASSERT_TRUE(sched.trigger_timeout());
    run();
  }

  test_config sys_cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
  caf::io::network::test_multiplexer& mpx;
  mm::node_config cfg;
  mm::metrics stats;
  mm::redis_listener_actor listener;
  std::vector<caf::actor> recorders;
  /// What every recorder was told of the connection, in order.
  upstream_log ups = std::make_shared<std::vector<bool>>();
  int64_t last_conn_id = 0;
};

TEST_F(redis_listener_test, watch_subscribes_the_channel) {
  auto conn = start_connected();
  EXPECT_TRUE(stats.redis_connected);
  EXPECT_EQ(written(conn), "");
  auto log = std::make_shared<std::vector<mm::tick>>();
  watch("AAPL", spawn_recorder(log));
  EXPECT_EQ(written(conn), resp({"SUBSCRIBE", "prices:AAPL"}));
  reply(conn, confirm("subscribe", "prices:AAPL", 1));
  EXPECT_EQ(stats.redis_subscriptions, 1);
  // Watching again with the same broadcaster changes nothing.
  watch("AAPL", recorders.back());
  EXPECT_EQ(written(conn), "");
}

TEST_F(redis_listener_test, message_reaches_the_broadcaster) {
  auto conn = start_connected();
  auto aapl = std::make_shared<std::vector<mm::tick>>();
  auto msft = std::make_shared<std::vector<mm::tick>>();
  watch("AAPL", spawn_recorder(aapl));
  watch("MSFT", spawn_recorder(msft));
  written(conn);
  reply(conn, confirm("subscribe", "prices:AAPL", 1)
                + confirm("subscribe", "prices:MSFT", 2));
  EXPECT_EQ(stats.redis_subscriptions, 2);
  reply(conn, message("prices:AAPL", good_payload));
  ASSERT_EQ(aapl->size(), 1u);
  EXPECT_EQ(aapl->front().price, 189.25);
  EXPECT_EQ(aapl->front().volume, 100);
  EXPECT_EQ(aapl->front().ts, 1763800000123456789);
  EXPECT_TRUE(msft->empty());
  EXPECT_EQ(stats.ticks_received_total, 1u);
  // Several replies in one read, for two channels.
  reply(conn, message("prices:MSFT", R"({"price": 410.5})")
                + message("prices:AAPL", R"({"price": 190, "volume": 7})"));
  ASSERT_EQ(msft->size(), 1u);
  EXPECT_EQ(msft->front().price, 410.5);
  EXPECT_GT(msft->front().ts, 0); // Receive time when the feed has no ts.
  ASSERT_EQ(aapl->size(), 2u);
  EXPECT_EQ(aapl->back().volume, 7);
  EXPECT_EQ(stats.ticks_received_total, 3u);
}

TEST_F(redis_listener_test, malformed_payload_is_counted_and_dropped) {
  auto conn = start_connected();
  auto log = std::make_shared<std::vector<mm::tick>>();
  watch("AAPL", spawn_recorder(log));
  reply(conn, message("prices:AAPL", R"({"price": -1})"));
  reply(conn, message("prices:AAPL", "not json at all"));
  reply(conn, message("prices:AAPL", R"({"price": 1, "ticker": "MSFT"})"));
  EXPECT_TRUE(log->empty());
  EXPECT_EQ(stats.ticks_malformed_total, 3u);
  EXPECT_EQ(stats.ticks_received_total, 0u);
  // The listener is still there and the next good tick goes through.
  reply(conn, message("prices:AAPL", good_payload));
  ASSERT_EQ(log->size(), 1u);
  EXPECT_EQ(log->front().price, 189.25);
  EXPECT_EQ(stats.ticks_received_total, 1u);
  EXPECT_TRUE(stats.redis_connected);
}

TEST_F(redis_listener_test, message_for_unwatched_channel_is_dropped) {
  auto conn = start_connected();
  auto log = std::make_shared<std::vector<mm::tick>>();
  watch("AAPL", spawn_recorder(log));
  reply(conn, message("prices:MSFT", good_payload));
  EXPECT_TRUE(log->empty());
  EXPECT_EQ(stats.ticks_received_total, 0u);
  EXPECT_EQ(stats.ticks_malformed_total, 0u);
}

TEST_F(redis_listener_test, broadcaster_exit_unsubscribes) {
  auto conn = start_connected();
  auto log = std::make_shared<std::vector<mm::tick>>();
  auto bc = spawn_recorder(log);
  watch("AAPL", bc);
  reply(conn, confirm("subscribe", "prices:AAPL", 1));
  written(conn);
  caf::anon_send_exit(bc, caf::exit_reason::user_shutdown);
  run();
  EXPECT_EQ(written(conn), resp({"UNSUBSCRIBE", "prices:AAPL"}));
  reply(conn, confirm("unsubscribe", "prices:AAPL", 0));
  EXPECT_EQ(stats.redis_subscriptions, 0);
  // A tick still in flight when Redis took the UNSUBSCRIBE is dropped.
  reply(conn, message("prices:AAPL", good_payload));
  EXPECT_EQ(stats.ticks_received_total, 0u);
}

TEST_F(redis_listener_test, fresh_broadcaster_replaces_the_old_one) {
  auto conn = start_connected();
  auto old_log = std::make_shared<std::vector<mm::tick>>();
  auto new_log = std::make_shared<std::vector<mm::tick>>();
  auto old_bc = spawn_recorder(old_log);
  watch("AAPL", old_bc);
  written(conn);
  watch("AAPL", spawn_recorder(new_log));
  EXPECT_EQ(written(conn), ""); // Still subscribed: nothing to tell Redis.
  reply(conn, message("prices:AAPL", good_payload));
  EXPECT_TRUE(old_log->empty());
  EXPECT_EQ(new_log->size(), 1u);
  // The old one ending does not take the channel from the new one.
  caf::anon_send_exit(old_bc, caf::exit_reason::user_shutdown);
  run();
  EXPECT_EQ(written(conn), "");
  reply(conn, message("prices:AAPL", good_payload));
  EXPECT_EQ(new_log->size(), 2u);
}

TEST_F(redis_listener_test, frames_split_byte_by_byte_parse) {
  auto conn = start_connected();
  auto log = std::make_shared<std::vector<mm::tick>>();
  watch("AAPL", spawn_recorder(log));
  auto bytes = confirm("subscribe", "prices:AAPL", 1)
               + message("prices:AAPL", good_payload)
               + message("prices:AAPL", R"({"price": 2.5})");
  for (auto c : bytes) {
    mpx.virtual_send(conn, {c});
    run();
  }
  EXPECT_EQ(stats.redis_subscriptions, 1);
  ASSERT_EQ(log->size(), 2u);
  EXPECT_EQ(log->front().price, 189.25);
  EXPECT_EQ(log->back().price, 2.5);
  EXPECT_EQ(stats.ticks_malformed_total, 0u);
}

TEST_F(redis_listener_test, runs_without_redis_and_connects_later) {
  // No connection provided: the first connect fails.
  listener = mm::spawn_redis_listener(sys, cfg, stats);
  run();
  EXPECT_FALSE(stats.redis_connected);
  auto log = std::make_shared<std::vector<mm::tick>>();
  watch("AAPL", spawn_recorder(log)); // Kept for when Redis is there.
  // Capped exponential backoff with jitter: each delay within
  // [base / 2, base], base doubling from 100 ms up to 5 s.
  auto base = caf::timespan{100ms};
  for (int i = 0; i < 9; ++i) {
    auto delay = pending_delay();
    EXPECT_GE(delay, base / 2) << "attempt " << i;
    EXPECT_LE(delay, base) << "attempt " << i;
    base = std::min(base * 2, caf::timespan{5s});
    fire_timer();
    EXPECT_FALSE(stats.redis_connected);
  }
  EXPECT_LE(pending_delay(), caf::timespan{5s});
  auto conn = provide_connection();
  fire_timer();
  EXPECT_TRUE(stats.redis_connected);
  EXPECT_FALSE(sched.clock().has_pending_timeout());
  EXPECT_EQ(written(conn), resp({"SUBSCRIBE", "prices:AAPL"}));
  reply(conn, message("prices:AAPL", good_payload));
  EXPECT_EQ(log->size(), 1u);
}

TEST_F(redis_listener_test, reconnects_and_resubscribes_in_one_command) {
  auto conn = start_connected();
  std::vector<std::string> tickers{"AAPL", "MSFT", "NVDA"};
  auto log = std::make_shared<std::vector<mm::tick>>();
  for (auto& x : tickers)
    watch(x, spawn_recorder(log));
  reply(conn, confirm("subscribe", "prices:AAPL", 1)
                + confirm("subscribe", "prices:MSFT", 2)
                + confirm("subscribe", "prices:NVDA", 3));
  EXPECT_EQ(stats.redis_subscriptions, 3);
  // Redis goes away.
  mpx.impl_ptr(conn)->io_failure(&mpx, caf::io::network::operation::read);
  run();
  EXPECT_FALSE(stats.redis_connected);
  EXPECT_EQ(stats.redis_subscriptions, 0);
  auto delay = pending_delay();
  EXPECT_GE(delay, caf::timespan{50ms});
  EXPECT_LE(delay, caf::timespan{100ms});
  // While it is away, a broadcaster ends: its channel is not re-subscribed.
  caf::anon_send_exit(recorders[1], caf::exit_reason::user_shutdown);
  run();
  auto conn2 = provide_connection();
  fire_timer();
  EXPECT_TRUE(stats.redis_connected);
  auto cmd = written(conn2);
  // One SUBSCRIBE with both channels, in the map's order.
  EXPECT_TRUE(cmd == resp({"SUBSCRIBE", "prices:AAPL", "prices:NVDA"})
              || cmd == resp({"SUBSCRIBE", "prices:NVDA", "prices:AAPL"}))
    << cmd;
  reply(conn2, confirm("subscribe", "prices:AAPL", 1)
                 + confirm("subscribe", "prices:NVDA", 2));
  EXPECT_EQ(stats.redis_subscriptions, 2);
  reply(conn2, message("prices:NVDA", good_payload));
  EXPECT_EQ(log->size(), 1u);
}

TEST_F(redis_listener_test, broadcasters_hear_of_the_connection_state) {
  // A broadcaster learns the state when it is watched and at every change:
  // a loss is what marks its next update with gap.
  auto conn = start_connected();
  auto log = std::make_shared<std::vector<mm::tick>>();
  watch("AAPL", spawn_recorder(log));
  EXPECT_EQ(*ups, std::vector<bool>{true});
  mpx.impl_ptr(conn)->io_failure(&mpx, caf::io::network::operation::read);
  run();
  EXPECT_EQ(*ups, (std::vector<bool>{true, false}));
  // Watched while Redis is away: told so at once.
  watch("MSFT", spawn_recorder(log));
  EXPECT_EQ(*ups, (std::vector<bool>{true, false, false}));
  provide_connection();
  fire_timer();
  EXPECT_EQ(*ups, (std::vector<bool>{true, false, false, true, true}));
}

TEST_F(redis_listener_test, protocol_error_reconnects) {
  auto conn = start_connected();
  auto log = std::make_shared<std::vector<mm::tick>>();
  watch("AAPL", spawn_recorder(log));
  written(conn);
  reply(conn, "?this is not RESP\r\n");
  EXPECT_FALSE(stats.redis_connected);
  EXPECT_TRUE(mpx.stopped_reading(conn)); // We closed it.
  expect_aapl_back(*log);
}

TEST_F(redis_listener_test, silent_connection_is_pinged_then_dropped) {
  cfg.redis_ping_ms = 1000;
  auto conn = start_connected();
  auto log = std::make_shared<std::vector<mm::tick>>();
  watch("AAPL", spawn_recorder(log));
  EXPECT_EQ(written(conn), resp({"SUBSCRIBE", "prices:AAPL"}));
  // The liveness check is the one timer while connected.
  EXPECT_EQ(pending_delay(), caf::timespan{1s});
  // A whole interval without a byte from Redis: a PING.
  fire_timer();
  EXPECT_EQ(written(conn), resp({"PING"}));
  EXPECT_TRUE(stats.redis_connected);
  // Another without an answer: the connection is dead, although it never
  // closed. We close it and retry, as after any drop.
  fire_timer();
  EXPECT_FALSE(stats.redis_connected);
  EXPECT_TRUE(mpx.stopped_reading(conn));
  auto delay = pending_delay(); // The backoff timer, nothing else.
  EXPECT_GE(delay, caf::timespan{50ms});
  EXPECT_LE(delay, caf::timespan{100ms});
  expect_aapl_back(*log);
  stop_liveness(connection_handle::from_int(last_conn_id));
}

TEST_F(redis_listener_test, any_reply_keeps_the_connection_alive) {
  cfg.redis_ping_ms = 1000;
  auto conn = start_connected();
  auto log = std::make_shared<std::vector<mm::tick>>();
  watch("AAPL", spawn_recorder(log));
  written(conn);
  // Ticks flowing: no PING at all.
  for (int i = 0; i < 3; ++i) {
    reply(conn, message("prices:AAPL", good_payload));
    fire_timer();
    EXPECT_EQ(written(conn), "");
  }
  // Silent: PING; answered (subscribed form), so no drop.
  fire_timer();
  EXPECT_EQ(written(conn), resp({"PING"}));
  reply(conn, "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
  fire_timer();
  EXPECT_EQ(written(conn), "");
  // Silent again: PING, answered in the form of an unsubscribed connection.
  fire_timer();
  EXPECT_EQ(written(conn), resp({"PING"}));
  reply(conn, "+PONG\r\n");
  fire_timer();
  EXPECT_TRUE(stats.redis_connected);
  EXPECT_FALSE(mpx.stopped_reading(conn));
  EXPECT_EQ(log->size(), 3u);
  stop_liveness(conn);
}

TEST_F(redis_listener_test, unexpected_replies_are_ignored) {
  auto conn = start_connected();
  auto log = std::make_shared<std::vector<mm::tick>>();
  watch("AAPL", spawn_recorder(log));
  reply(conn, "-ERR unknown command\r\n");
  reply(conn, ":42\r\n");
  reply(conn, "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
  reply(conn, "*3\r\n$7\r\nmessage\r\n$11\r\nprices:AAPL\r\n$-1\r\n");
  EXPECT_TRUE(stats.redis_connected);
  reply(conn, message("prices:AAPL", good_payload));
  EXPECT_EQ(log->size(), 1u);
}

} // namespace
