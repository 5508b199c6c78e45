// A relay (actors/cluster/relay.cpp) on the test coordinator, with a
// stand-in hub: one subscription at the hub for all its sessions, the fan
// out, sessions that leave, the linger that ends it, the hub's last price
// in snapshots, and a lost hub broadcaster.

#include "actors/cluster/relay.hpp"

#include <string>
#include <vector>

#include "actors/inspection.hpp"
#include "actors/price_update.hpp"

#include "actor_fixture.hpp"
#include "fake_hub.hpp"

using namespace mm;
using namespace mm::test;

namespace {

const std::string ticker = "AAPL";

class relay_test : public edge_fixture {
public:
  relay_test()
    : edge_fixture({"a:1"}),
      hub(recs.front()),
      link(links.front()),
      other(sys) {
    // nop
  }

  /// Spawns the relay under test and lets it subscribe at the hub.
  void start() {
    relay =
      caf::actor_cast<caf::actor>(spawn_relay(sys, ticker, link, &ncfg, &m));
    cleanup.push_back(relay);
    run();
  }

  /// Subscribes `who` at the relay as a session does; returns the reply.
  std::vector<price_update> subscribe(caf::scoped_actor& who) {
    who->send(relay, subscribe_atom::value, as_subscriber(who));
    run();
    std::vector<price_update> result;
    bool got = false;
    who->receive(
      [&](const std::vector<price_update>& xs) {
        result = xs;
        got = true;
      },
      caf::after(std::chrono::seconds(0)) >> [] {});
    EXPECT_TRUE(got) << "no reply to subscribe";
    return result;
  }

  /// The hub's broadcaster publishes `price`.
  void hub_tick(double price) {
    auto& b = hub->broadcasters[ticker];
    ASSERT_TRUE(b) << "the hub has no broadcaster";
    self->send(b, price);
    run();
  }

  /// The updates waiting in `who`'s mailbox.
  static std::vector<price_update> received(caf::scoped_actor& who) {
    return drain<price_update>(who);
  }

  /// The relay's (subscribers, seq).
  std::pair<uint64_t, uint64_t> stats() {
    std::pair<uint64_t, uint64_t> result{0, 0};
    auto rh = self->request(relay, caf::infinite, stats_atom::value);
    run();
    rh.receive(
      [&](uint64_t n, uint64_t seq) {
        result = {n, seq};
      },
      [&](const caf::error& err) {
        ADD_FAILURE() << "got error: " << sys.render(err);
      });
    return result;
  }

  bool subscribed_at_hub() {
    return hub->subscribers[ticker].count(relay.address()) > 0;
  }

  record_ptr hub;
  fake_link_actor link;
  caf::actor relay;
  caf::scoped_actor other;
};

TEST_F(relay_test, subscribes_at_the_hub_once_for_all_its_sessions) {
  start();
  EXPECT_EQ(m.relays.load(), 1);
  ASSERT_TRUE(subscribed_at_hub());
  subscribe(self);
  subscribe(other);
  EXPECT_EQ(hub->subscribes[ticker], 1);
  EXPECT_EQ(stats().first, 2u);
}

TEST_F(relay_test, fans_a_hub_update_out_to_its_sessions) {
  start();
  subscribe(self);
  subscribe(other);
  hub_tick(101.5);
  auto mine = received(self);
  auto theirs = received(other);
  ASSERT_EQ(mine.size(), 1u);
  ASSERT_EQ(theirs.size(), 1u);
  EXPECT_EQ(mine[0].ticker, ticker);
  EXPECT_EQ(mine[0].price, 101.5);
  EXPECT_EQ(mine[0].seq, 1u);
  EXPECT_FALSE(mine[0].gap);
  EXPECT_EQ(theirs[0].price, 101.5);
  EXPECT_EQ(stats().second, 1u);
}

TEST_F(relay_test, a_session_that_unsubscribes_gets_no_more_updates) {
  start();
  subscribe(self);
  subscribe(other);
  other->send(relay, unsubscribe_atom::value, as_subscriber(other));
  run();
  hub_tick(1);
  EXPECT_EQ(received(self).size(), 1u);
  EXPECT_TRUE(received(other).empty());
  EXPECT_EQ(stats().first, 1u);
  // One session left: the relay stays subscribed at the hub.
  EXPECT_TRUE(subscribed_at_hub());
  EXPECT_EQ(hub->unsubscribes[ticker], 0);
}

TEST_F(relay_test, a_session_that_ends_is_forgotten) {
  start();
  subscribe(self);
  auto session = spawn_idle_subscriber();
  self->send(relay, subscribe_atom::value, session);
  run();
  fetch<std::vector<price_update>>();
  EXPECT_EQ(stats().first, 2u);
  caf::anon_send_exit(session, caf::exit_reason::user_shutdown);
  run();
  EXPECT_EQ(stats().first, 1u);
}

TEST_F(relay_test,
       the_last_session_gone_ends_it_after_linger_and_leaves_the_hub) {
  start();
  self->monitor(relay);
  subscribe(self);
  self->send(relay, unsubscribe_atom::value, as_subscriber(self));
  run();
  advance(ncfg.linger_ms - 1);
  EXPECT_FALSE(took_down(relay));
  EXPECT_TRUE(subscribed_at_hub());
  advance(1);
  EXPECT_TRUE(took_down(relay));
  EXPECT_FALSE(subscribed_at_hub());
  EXPECT_EQ(hub->unsubscribes[ticker], 1);
  EXPECT_EQ(m.relays.load(), 0);
}

TEST_F(relay_test, a_session_within_the_linger_keeps_it) {
  start();
  self->monitor(relay);
  subscribe(self);
  self->send(relay, unsubscribe_atom::value, as_subscriber(self));
  run();
  advance(ncfg.linger_ms / 2);
  subscribe(other);
  advance(ncfg.linger_ms);
  EXPECT_FALSE(took_down(relay));
  EXPECT_TRUE(subscribed_at_hub());
  EXPECT_EQ(hub->subscribes[ticker], 1);
}

TEST_F(relay_test, a_snapshot_waits_for_the_hubs_last_price) {
  price_update last;
  last.ticker = ticker;
  last.price = 42;
  last.seq = 7;
  last.epoch = 3;
  hub->last[ticker] = last;
  hub->hold_subscribe = true;
  start();
  // The session asks while the relay's subscription at the hub is on its
  // way: the answer waits for it and carries the hub's last price.
  self->send(relay, subscribe_atom::value, as_subscriber(self));
  run();
  EXPECT_FALSE(has_message());
  self->send(hub->broadcasters[ticker], ok_atom::value);
  run();
  auto snapshot = fetch<std::vector<price_update>>();
  ASSERT_EQ(snapshot.size(), 1u);
  EXPECT_EQ(snapshot[0].price, 42);
  EXPECT_EQ(snapshot[0].seq, 7u);
  self->send(relay, last_atom::value);
  run();
  auto xs = fetch<std::vector<price_update>>();
  ASSERT_EQ(xs.size(), 1u);
  EXPECT_EQ(xs[0].seq, 7u);
}

TEST_F(relay_test, describe_and_health_show_its_updates) {
  start();
  subscribe(self);
  self->send(relay, describe_atom::value);
  run();
  auto before = fetch<ticker_info>();
  EXPECT_EQ(before.ticker, ticker);
  EXPECT_TRUE(before.last.empty());
  EXPECT_EQ(before.last_update_ms, -1);
  EXPECT_EQ(before.per_second, std::vector<uint32_t>(10, 0));
  EXPECT_TRUE(before.upstream_connected);
  hub_tick(1);
  hub_tick(2);
  advance(250);
  self->send(relay, describe_atom::value);
  run();
  received(self);
  auto x = fetch<ticker_info>();
  EXPECT_EQ(x.subscribers, 1u);
  EXPECT_EQ(x.seq, 2u);
  ASSERT_EQ(x.last.size(), 1u);
  EXPECT_EQ(x.last[0].price, 2);
  EXPECT_EQ(x.last_update_ms, 250);
  ASSERT_EQ(x.per_second.size(), 10u);
  uint32_t ticks = 0;
  for (auto n : x.per_second)
    ticks += n;
  EXPECT_EQ(ticks, 2u);
  EXPECT_EQ(x.history, 2u);
  self->send(relay, health_atom::value);
  run();
  auto h = fetch<ticker_health>();
  EXPECT_EQ(h.ticker, ticker);
  ASSERT_EQ(h.last.size(), 1u);
  EXPECT_EQ(h.last[0].price, 2);
  EXPECT_EQ(h.last_tick_age_ms, 250);
  EXPECT_TRUE(h.upstream_connected);
}

TEST_F(relay_test,
       a_lost_hub_broadcaster_is_replaced_and_the_next_update_has_gap) {
  start();
  subscribe(self);
  hub_tick(1);
  ASSERT_EQ(received(self).size(), 1u);
  auto lost = hub->broadcasters[ticker];
  caf::anon_send_exit(lost, caf::exit_reason::remote_link_unreachable);
  run();
  self->send(relay, health_atom::value);
  run();
  EXPECT_FALSE(fetch<ticker_health>().upstream_connected);
  // Capped backoff: within hub_retry_max_ms it asks the link again, with
  // the lost broadcaster as dead hint, and subscribes at the new one.
  advance(ncfg.hub_retry_max_ms);
  ASSERT_EQ(hub->dead_hints[ticker].size(), 2u);
  EXPECT_EQ(hub->dead_hints[ticker].back(), lost);
  ASSERT_NE(hub->broadcasters[ticker], lost);
  EXPECT_TRUE(subscribed_at_hub());
  hub_tick(2);
  auto xs = received(self);
  ASSERT_EQ(xs.size(), 1u);
  EXPECT_EQ(xs[0].price, 2);
  EXPECT_TRUE(xs[0].gap);
  hub_tick(3);
  auto ys = received(self);
  ASSERT_EQ(ys.size(), 1u);
  EXPECT_FALSE(ys[0].gap);
}

} // namespace
