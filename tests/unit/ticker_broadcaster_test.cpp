#include "actors/ticker_broadcaster.hpp"

#include "actor_fixture.hpp"

using namespace mm;
using namespace mm::test;

namespace {

using received = std::vector<price_update>;

class broadcaster_test : public actor_fixture {
public:
  /// A subscriber that records every update it gets.
  caf::actor spawn_recorder(std::shared_ptr<received> log) {
    auto r = sys.spawn([log](caf::event_based_actor*) -> caf::behavior {
      return {[log](const price_update& u) { log->push_back(u); }};
    });
    cleanup.push_back(r);
    return r;
  }

  std::vector<price_update> subscribe(const caf::actor& b,
                                      const caf::actor& who) {
    self->send(b, subscribe_atom::value, who);
    run();
    return fetch<std::vector<price_update>>();
  }

  /// (subscribers, seq) of `b`.
  std::pair<uint64_t, uint64_t> stats(const caf::actor& b) {
    std::pair<uint64_t, uint64_t> result;
    self->send(b, stats_atom::value);
    run();
    self->receive(
      [&](uint64_t subs, uint64_t seq) { result = {subs, seq}; },
      caf::after(std::chrono::seconds(0)) >> [] { ADD_FAILURE(); });
    return result;
  }

  void publish(const caf::actor& b, double price, int64_t volume,
               int64_t ts) {
    self->send(b, tick{price, volume, ts});
    run();
  }
};

TEST_F(broadcaster_test, fans_out_one_tick_to_every_subscriber_with_seq) {
  auto b = spawn_ticker_broadcaster(sys, "AAPL", ncfg, m);
  std::vector<std::shared_ptr<received>> logs;
  for (int i = 0; i < 200; ++i) {
    logs.push_back(std::make_shared<received>());
    EXPECT_TRUE(subscribe(b, spawn_recorder(logs.back())).empty());
  }
  publish(b, 189.25, 100, 1763800000123456789);
  publish(b, 189.5, 7, 1763800000123456790);
  for (auto& log : logs) {
    ASSERT_EQ(log->size(), 2u);
    EXPECT_EQ((*log)[0].ticker, "AAPL");
    EXPECT_DOUBLE_EQ((*log)[0].price, 189.25);
    EXPECT_EQ((*log)[0].volume, 100);
    EXPECT_EQ((*log)[0].ts, 1763800000123456789);
    EXPECT_EQ((*log)[0].seq, 1u);
    EXPECT_EQ((*log)[1].seq, 2u);
    EXPECT_EQ((*log)[1].conflated, 0u);
  }
  EXPECT_EQ(stats(b), std::make_pair(uint64_t{200}, uint64_t{2}));
}

TEST_F(broadcaster_test, a_conflating_subscriber_gets_one_wake_per_take) {
  auto b = spawn_ticker_broadcaster(sys, "AAPL", ncfg, m);
  auto wakes = std::make_shared<int>(0);
  auto r = sys.spawn([wakes](caf::event_based_actor*) -> caf::behavior {
    return {
      [wakes](wake_atom) { ++*wakes; },
      [](const price_update&) { ADD_FAILURE() << "got a plain update"; },
    };
  });
  cleanup.push_back(r);
  auto inbox = std::make_shared<session_inbox>();
  auto slot = inbox->open("AAPL");
  self->send(b, subscribe_atom::value, r, inbox, slot);
  run();
  EXPECT_TRUE(fetch<std::vector<price_update>>().empty());
  EXPECT_EQ(stats(b).first, 1u);
  // However many ticks come, the subscriber's mailbox gets one message.
  for (int i = 1; i <= 100; ++i)
    publish(b, i, 1, i);
  EXPECT_EQ(*wakes, 1);
  std::vector<session_inbox::entry> taken;
  inbox->take(10, taken);
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].update.get_as<price_update>(0).seq, 100u);
  EXPECT_DOUBLE_EQ(taken[0].update.get_as<price_update>(0).price, 100.0);
  EXPECT_EQ(taken[0].replaced, 99u);
  publish(b, 101.0, 1, 101);
  EXPECT_EQ(*wakes, 2) << "taken to empty: the next tick wakes again";
  self->send(b, unsubscribe_atom::value, r);
  run();
  publish(b, 102.0, 1, 102);
  taken.clear();
  inbox->take(10, taken);
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].update.get_as<price_update>(0).seq, 101u);
  EXPECT_EQ(stats(b).first, 0u);
}

TEST_F(broadcaster_test, subscribe_replies_with_the_last_update) {
  auto b = spawn_ticker_broadcaster(sys, "MSFT", ncfg, m);
  auto first = std::make_shared<received>();
  subscribe(b, spawn_recorder(first));
  publish(b, 410.0, 1, 11);
  publish(b, 411.0, 2, 12);
  auto last = subscribe(b, spawn_recorder(std::make_shared<received>()));
  ASSERT_EQ(last.size(), 1u);
  EXPECT_DOUBLE_EQ(last[0].price, 411.0);
  EXPECT_EQ(last[0].seq, 2u);
  self->send(b, last_atom::value);
  run();
  EXPECT_EQ(fetch<std::vector<price_update>>().at(0).ts, 12);
}

TEST_F(broadcaster_test, a_subscriber_that_dies_is_dropped) {
  auto b = spawn_ticker_broadcaster(sys, "GOOG", ncfg, m);
  auto alive_log = std::make_shared<received>();
  auto alive = spawn_recorder(alive_log);
  auto doomed = spawn_recorder(std::make_shared<received>());
  subscribe(b, alive);
  subscribe(b, doomed);
  EXPECT_EQ(stats(b).first, 2u);
  caf::anon_send_exit(doomed, caf::exit_reason::kill);
  run();
  EXPECT_EQ(stats(b).first, 1u);
  publish(b, 1.0, 0, 1);
  EXPECT_EQ(alive_log->size(), 1u);
}

TEST_F(broadcaster_test, unsubscribe_stops_delivery) {
  auto b = spawn_ticker_broadcaster(sys, "AMZN", ncfg, m);
  auto log = std::make_shared<received>();
  auto r = spawn_recorder(log);
  subscribe(b, r);
  publish(b, 1.0, 0, 1);
  self->send(b, unsubscribe_atom::value, r);
  run();
  publish(b, 2.0, 0, 2);
  ASSERT_EQ(log->size(), 1u);
  EXPECT_EQ(stats(b), std::make_pair(uint64_t{0}, uint64_t{2}));
}

TEST_F(broadcaster_test, exits_after_linger_with_no_subscribers) {
  auto b = spawn_ticker_broadcaster(sys, "TSLA", ncfg, m);
  self->monitor(b);
  auto r = spawn_recorder(std::make_shared<received>());
  subscribe(b, r);
  EXPECT_EQ(m.broadcasters.load(), 1);
  // With a subscriber it stays, however long.
  advance(ncfg.linger_ms * 3);
  EXPECT_FALSE(has_message());
  caf::anon_send_exit(r, caf::exit_reason::kill);
  run();
  advance(ncfg.linger_ms - 1);
  EXPECT_FALSE(has_message()) << "ended before the linger period";
  advance(1);
  bool down = false;
  self->receive([&](const caf::down_msg& dm) { down = dm.source == b; },
                caf::after(std::chrono::seconds(0)) >> [] {});
  EXPECT_TRUE(down);
  EXPECT_EQ(m.broadcasters.load(), 0);
}

TEST_F(broadcaster_test, a_subscriber_during_linger_keeps_it_alive) {
  auto b = spawn_ticker_broadcaster(sys, "NVDA", ncfg, m);
  self->monitor(b);
  auto r1 = spawn_recorder(std::make_shared<received>());
  subscribe(b, r1);
  self->send(b, unsubscribe_atom::value, r1);
  run();
  advance(ncfg.linger_ms / 2);
  subscribe(b, spawn_recorder(std::make_shared<received>()));
  advance(ncfg.linger_ms * 2);
  EXPECT_FALSE(has_message()) << "a broadcaster with a subscriber ended";
  EXPECT_EQ(stats(b).first, 1u);
}

} // namespace
