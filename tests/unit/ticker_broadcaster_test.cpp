#include "actors/ticker_broadcaster.hpp"

#include "actor_fixture.hpp"

using namespace mm;
using namespace mm::test;

namespace {

using received = std::vector<price_update>;

class broadcaster_test : public actor_fixture {
public:
  /// A subscriber that records every update it gets.
  subscriber spawn_recorder(std::shared_ptr<received> log) {
    auto r = sys.spawn(
      [log](update_sink_actor::pointer) -> update_sink_actor::behavior_type {
        return {[log](const price_update& u) { log->push_back(u); }};
      });
    cleanup.push_back(r);
    return r;
  }

  std::vector<price_update> subscribe(const ticker_broadcaster_actor& b,
                                      const subscriber& who) {
    self->send(b, subscribe_atom::value, who);
    run();
    return fetch<std::vector<price_update>>();
  }

  /// (subscribers, seq) of `b`.
  std::pair<uint64_t, uint64_t> stats(const ticker_broadcaster_actor& b) {
    std::pair<uint64_t, uint64_t> result;
    self->send(b, stats_atom::value);
    run();
    self->receive(
      [&](uint64_t subs, uint64_t seq) {
        result = {subs, seq};
      },
      caf::after(std::chrono::seconds(0)) >> [] { ADD_FAILURE(); });
    return result;
  }

  void publish(const ticker_broadcaster_actor& b, double price, int64_t volume,
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
  auto r = sys.spawn(
    [wakes](inbox_sink_actor::pointer) -> inbox_sink_actor::behavior_type {
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
  self->send(b, unsubscribe_atom::value, subscriber{r});
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

namespace {

TEST_F(broadcaster_test, every_broadcaster_has_its_own_epoch) {
  auto b1 = spawn_ticker_broadcaster(sys, "AAPL", ncfg, m);
  auto log = std::make_shared<received>();
  subscribe(b1, spawn_recorder(log));
  publish(b1, 1, 1, 1);
  publish(b1, 2, 1, 2);
  ASSERT_EQ(log->size(), 2u);
  EXPECT_NE((*log)[0].epoch, 0u);
  EXPECT_EQ((*log)[0].epoch, (*log)[1].epoch);
  // A broadcaster for the same ticker after the first lingered out starts
  // seq at 1 again, in a new epoch.
  auto b2 = spawn_ticker_broadcaster(sys, "AAPL", ncfg, m);
  subscribe(b2, spawn_recorder(log));
  publish(b2, 3, 1, 3);
  ASSERT_EQ(log->size(), 3u);
  EXPECT_EQ((*log)[2].seq, 1u);
  EXPECT_NE((*log)[2].epoch, (*log)[0].epoch);
  EXPECT_NE((*log)[2].epoch, 0u);
}

TEST_F(broadcaster_test, the_first_update_after_a_lost_upstream_has_gap) {
  auto b = spawn_ticker_broadcaster(sys, "AAPL", ncfg, m);
  auto log = std::make_shared<received>();
  subscribe(b, spawn_recorder(log));
  self->send(b, upstream_atom::value, true);
  publish(b, 1, 1, 1);
  self->send(b, upstream_atom::value, false);
  self->send(b, upstream_atom::value, true);
  publish(b, 2, 1, 2);
  publish(b, 3, 1, 3);
  ASSERT_EQ(log->size(), 3u);
  EXPECT_FALSE((*log)[0].gap);
  EXPECT_TRUE((*log)[1].gap);
  EXPECT_FALSE((*log)[2].gap);
  // seq stays contiguous: only gap shows the loss.
  EXPECT_EQ((*log)[1].seq, 2u);
  // Born while the upstream was away: nothing was lost, no gap.
  auto b2 = spawn_ticker_broadcaster(sys, "MSFT", ncfg, m);
  subscribe(b2, spawn_recorder(log));
  self->send(b2, upstream_atom::value, false);
  self->send(b2, upstream_atom::value, true);
  publish(b2, 4, 1, 4);
  ASSERT_EQ(log->size(), 4u);
  EXPECT_FALSE((*log)[3].gap);
}

} // namespace

namespace {

TEST_F(broadcaster_test, resume_replays_the_missed_updates_then_goes_live) {
  auto b = spawn_ticker_broadcaster(sys, "AAPL", ncfg, m);
  auto first = std::make_shared<received>();
  subscribe(b, spawn_recorder(first));
  for (int i = 1; i <= 5; ++i)
    publish(b, i, 1, i);
  auto epoch = first->back().epoch;
  EXPECT_EQ(m.history_entries.load(), 5);
  auto log = std::make_shared<received>();
  self->send(b, subscribe_atom::value, spawn_recorder(log),
             stream_position{"AAPL", epoch, 2});
  run();
  auto r = fetch<resume_reply>();
  EXPECT_TRUE(r.recovered);
  ASSERT_EQ(r.updates.size(), 3u);
  EXPECT_EQ(r.updates[0].seq, 3u);
  EXPECT_EQ(r.updates[2].seq, 5u);
  publish(b, 6, 1, 6);
  ASSERT_EQ(log->size(), 1u);
  EXPECT_EQ((*log)[0].seq, 6u);
  // Another epoch: not recovered, the last update comes instead.
  self->send(b, subscribe_atom::value, spawn_recorder(log),
             stream_position{"AAPL", epoch + 1, 2});
  run();
  r = fetch<resume_reply>();
  EXPECT_FALSE(r.recovered);
  ASSERT_EQ(r.updates.size(), 1u);
  EXPECT_EQ(r.updates[0].seq, 6u);
}

TEST_F(broadcaster_test, history_is_bounded_by_size_and_age) {
  ncfg.history_size = 4;
  ncfg.history_ttl_ms = 500;
  auto b = spawn_ticker_broadcaster(sys, "AAPL", ncfg, m);
  subscribe(b, spawn_recorder(std::make_shared<received>()));
  for (int i = 1; i <= 10; ++i)
    publish(b, i, 1, i);
  EXPECT_EQ(m.history_entries.load(), 4);
  EXPECT_GT(m.history_bytes.load(), 0);
  // A quiet ticker keeps nothing beyond the ttl.
  advance(499);
  EXPECT_EQ(m.history_entries.load(), 4);
  advance(1);
  EXPECT_EQ(m.history_entries.load(), 0);
  EXPECT_EQ(m.history_bytes.load(), 0);
}

} // namespace
