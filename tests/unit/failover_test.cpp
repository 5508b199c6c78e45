// Hub failover on an edge (docs/cluster.md, "Failover"): the relay
// directory routes each ticker to the first hub in its rendezvous order that
// is up, moves the relays of a lost hub to the next one at once, and moves
// them back when the hub returns. The hubs here are stand-ins: a link that
// hands out one recording broadcaster per ticker, as a hub's directory does.

#include "actors/cluster/node_identity.hpp"
#include "actors/cluster/relay_directory.hpp"
#include "actors/cluster/rendezvous.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "tests/unit/actor_fixture.hpp"
#include "tests/unit/fake_hub.hpp"

namespace mm::test {
namespace {

// --- the routing rule --------------------------------------------------------

std::vector<std::string> some_tickers(size_t n) {
  std::vector<std::string> result;
  for (size_t i = 0; i < n; ++i)
    result.push_back("T" + std::to_string(i));
  return result;
}

TEST(rendezvous_order, starts_with_the_owner_and_lists_every_hub_once) {
  std::vector<std::string> hubs{"a:1", "b:1", "c:1", "d:1"};
  for (auto& t : some_tickers(300)) {
    auto order = rendezvous_order(t, hubs);
    ASSERT_EQ(order.size(), hubs.size()) << t;
    EXPECT_EQ(order.front(), owner_of(t, hubs)) << t;
    auto sorted = order;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, (std::vector<size_t>{0, 1, 2, 3})) << t;
  }
}

TEST(rendezvous_order, does_not_depend_on_the_order_of_hubs) {
  std::vector<std::string> hubs{"a:1", "b:1", "c:1"};
  std::vector<std::string> other{"c:1", "a:1", "b:1"};
  for (auto& t : some_tickers(300)) {
    std::vector<std::string> x;
    std::vector<std::string> y;
    for (auto i : rendezvous_order(t, hubs))
      x.push_back(hubs[i]);
    for (auto i : rendezvous_order(t, other))
      y.push_back(other[i]);
    EXPECT_EQ(x, y) << t;
  }
}

TEST(route_of, is_the_owner_while_every_hub_is_up) {
  std::vector<std::string> hubs{"a:1", "b:1", "c:1"};
  std::vector<bool> up(3, true);
  for (auto& t : some_tickers(300))
    EXPECT_EQ(route_of(t, hubs, up), owner_of(t, hubs)) << t;
}

TEST(route_of, skips_hubs_that_are_down_and_moves_only_their_tickers) {
  std::vector<std::string> hubs{"a:1", "b:1", "c:1"};
  std::vector<bool> b_down{true, false, true};
  std::vector<bool> b_and_a_down{false, false, true};
  size_t moved = 0;
  for (auto& t : some_tickers(600)) {
    auto order = rendezvous_order(t, hubs);
    auto owner = order[0];
    auto route = route_of(t, hubs, b_down);
    if (owner == 1) {
      // The next hub in this ticker's order.
      EXPECT_EQ(route, order[1]) << t;
      ++moved;
    } else {
      EXPECT_EQ(route, owner) << t;
    }
    EXPECT_EQ(route_of(t, hubs, b_and_a_down), 2u) << t;
  }
  // Rendezvous spreads b's share over both others.
  EXPECT_GT(moved, 100u);
}

TEST(route_of, with_no_hub_up_waits_for_the_owner) {
  std::vector<std::string> hubs{"a:1", "b:1", "c:1"};
  std::vector<bool> none(3, false);
  for (auto& t : some_tickers(100))
    EXPECT_EQ(route_of(t, hubs, none), owner_of(t, hubs)) << t;
}

TEST(route_of, is_the_same_on_edges_that_see_the_same_hubs_up) {
  // Two edges list the hubs in another order; both see c:1 down.
  std::vector<std::string> e1{"a:1", "b:1", "c:1"};
  std::vector<std::string> e2{"c:1", "b:1", "a:1"};
  std::vector<bool> up1{true, true, false};
  std::vector<bool> up2{false, true, true};
  for (auto& t : some_tickers(300))
    EXPECT_EQ(e1[route_of(t, e1, up1)], e2[route_of(t, e2, up2)]) << t;
}

// --- the relay directory with stand-in hubs ----------------------------------

class failover : public edge_fixture {
public:
  failover() : edge_fixture({"a:1", "b:1"}), id(node_role::edge) {
    dir = spawn_relay_directory(sys, ncfg, m, id, hub_links());
    cleanup.push_back(dir);
    // One ticker owned by each hub.
    for (auto& t : some_tickers(100)) {
      auto owner = owner_of(t, ncfg.hubs);
      if (owner == 0 && ta.empty())
        ta = t;
      if (owner == 1 && tb.empty())
        tb = t;
    }
  }

  /// The relay of `ticker`, with the scoped actor subscribed at it (as a
  /// session would be).
  publisher subscribe(const std::string& ticker) {
    self->send(dir, get_atom::value, ticker, publisher{});
    run();
    auto r = fetch<publisher>();
    self->send(r, subscribe_atom::value, as_subscriber(self));
    run();
    fetch<std::vector<price_update>>();
    return r;
  }

  /// The updates waiting in the scoped actor's mailbox.
  std::vector<price_update> received() {
    return drain<price_update>(self);
  }

  /// Hub `i` publishes `price` for `ticker` (at its current broadcaster).
  void tick(size_t i, const std::string& ticker, double price) {
    auto& b = recs[i]->broadcasters[ticker];
    ASSERT_TRUE(b) << "hub " << i << " has no broadcaster for " << ticker;
    self->send(b, price);
    run();
  }

  /// Hub `i` dies: its broadcasters go down (the relays get down_msg) and
  /// its link tells the directory, as a real link does.
  void lose_hub(size_t i) {
    for (auto& kvp : recs[i]->broadcasters)
      caf::anon_send_exit(kvp.second,
                          caf::exit_reason::remote_link_unreachable);
    recs[i]->broadcasters.clear();
    recs[i]->subscribers.clear();
    self->send(dir, hub_atom::value, ncfg.hubs[i], false);
    run();
  }

  void hub_back(size_t i) {
    self->send(dir, hub_atom::value, ncfg.hubs[i], true);
    run();
  }

  bool subscribed_at(size_t i, const std::string& ticker,
                     const publisher& relay) {
    return recs[i]->subscribers[ticker].count(relay.address()) > 0;
  }

  node_identity id;
  relay_directory_actor dir;
  std::string ta; // owned by a:1
  std::string tb; // owned by b:1
};

TEST_F(failover, tickers_start_at_their_owner) {
  auto ra = subscribe(ta);
  auto rb = subscribe(tb);
  EXPECT_TRUE(subscribed_at(0, ta, ra));
  EXPECT_TRUE(subscribed_at(1, tb, rb));
  EXPECT_EQ(recs[1]->subscribes.count(ta), 0u);
  EXPECT_EQ(recs[0]->subscribes.count(tb), 0u);
  tick(0, ta, 1);
  tick(1, tb, 2);
  auto xs = received();
  ASSERT_EQ(xs.size(), 2u);
  EXPECT_FALSE(xs[0].gap);
  EXPECT_FALSE(xs[1].gap);
}

TEST_F(failover, a_lost_hubs_tickers_move_to_the_next_hub_at_once) {
  auto ra = subscribe(ta);
  auto rb = subscribe(tb);
  tick(0, ta, 1);
  tick(1, tb, 2);
  auto before = received();
  ASSERT_EQ(before.size(), 2u);
  auto old_epoch = before[0].epoch;
  lose_hub(0);
  // No clock moved: the move does not wait for the relay's backoff.
  EXPECT_TRUE(subscribed_at(1, ta, ra));
  EXPECT_EQ(recs[1]->subscribes[ta], 1);
  // b's own ticker did not move or resubscribe.
  EXPECT_TRUE(subscribed_at(1, tb, rb));
  EXPECT_EQ(recs[1]->subscribes[tb], 1);
  tick(1, ta, 3);
  tick(1, tb, 4);
  auto after = received();
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after[0].ticker, ta);
  EXPECT_EQ(after[0].price, 3);
  EXPECT_TRUE(after[0].gap);
  EXPECT_NE(after[0].epoch, old_epoch);
  EXPECT_EQ(after[0].epoch, recs[1]->epochs[ta].back());
  EXPECT_EQ(after[1].ticker, tb);
  EXPECT_FALSE(after[1].gap);
  // Only the first update after the move has gap.
  tick(1, ta, 5);
  auto later = received();
  ASSERT_EQ(later.size(), 1u);
  EXPECT_FALSE(later[0].gap);
  // The relay's own retry timer, when it fires, changes nothing.
  advance(ncfg.hub_retry_max_ms);
  EXPECT_EQ(recs[1]->subscribes[ta], 1);
  EXPECT_EQ(recs[0]->subscribes[ta], 1);
}

TEST_F(failover, new_tickers_of_a_lost_hub_start_at_the_next_hub) {
  lose_hub(0);
  auto ra = subscribe(ta);
  EXPECT_TRUE(subscribed_at(1, ta, ra));
  EXPECT_EQ(recs[0]->subscribes.count(ta), 0u);
}

TEST_F(failover, a_returning_hub_gets_its_tickers_back) {
  auto ra = subscribe(ta);
  auto rb = subscribe(tb);
  lose_hub(0);
  tick(1, ta, 1);
  auto on_b = received();
  ASSERT_EQ(on_b.size(), 1u);
  auto b_broadcaster = recs[1]->broadcasters[ta];
  recs[1]->keep_sending = true;
  hub_back(0);
  // Moved back: subscribed at a's new broadcaster, no longer at b's, so b's
  // broadcaster lingers out and releases the Redis channel.
  EXPECT_TRUE(subscribed_at(0, ta, ra));
  EXPECT_FALSE(subscribed_at(1, ta, ra));
  EXPECT_TRUE(subscribed_at(1, tb, rb));
  EXPECT_EQ(recs[1]->subscribes[tb], 1);
  // A tick b's broadcaster still sends (on its way when the relay left)
  // does not reach the session.
  self->send(b_broadcaster, 99.0);
  run();
  tick(0, ta, 2);
  auto back = received();
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].price, 2);
  EXPECT_TRUE(back[0].gap);
  EXPECT_NE(back[0].epoch, on_b[0].epoch);
  EXPECT_EQ(back[0].epoch, recs[0]->epochs[ta].back());
}

TEST_F(failover, an_answer_from_the_old_hub_after_a_move_is_ignored) {
  // The relay asked a's link for the broadcaster; a goes down before the
  // answer comes: the relay moves to b and ignores a's late answer.
  recs[0]->hold = true;
  self->send(dir, get_atom::value, ta, publisher{});
  run();
  auto ra = fetch<publisher>();
  self->send(dir, hub_atom::value, ncfg.hubs[0], false);
  run();
  EXPECT_TRUE(subscribed_at(1, ta, ra));
  recs[0]->hold = false;
  self->send(links[0], ok_atom::value);
  run();
  EXPECT_EQ(recs[0]->subscribes[ta], 0);
  EXPECT_TRUE(subscribed_at(1, ta, ra));
}

TEST_F(failover, a_move_leaves_no_subscription_behind_at_the_old_hub) {
  // The relay's subscription at a's broadcaster is on its way when a goes
  // down, and a answers it after the move: the relay leaves it again.
  recs[0]->hold_subscribe = true;
  self->send(dir, get_atom::value, ta, publisher{});
  run();
  auto ra = fetch<publisher>();
  ASSERT_TRUE(subscribed_at(0, ta, ra));
  auto a_broadcaster = recs[0]->broadcasters[ta];
  recs[0]->hold_subscribe = false;
  self->send(dir, hub_atom::value, ncfg.hubs[0], false);
  run();
  EXPECT_TRUE(subscribed_at(1, ta, ra));
  self->send(a_broadcaster, ok_atom::value);
  run();
  EXPECT_EQ(recs[0]->subscribes[ta], 1);
  EXPECT_FALSE(subscribed_at(0, ta, ra));
  EXPECT_TRUE(subscribed_at(1, ta, ra));
  // And ticks of a's broadcaster do not reach the relay's subscribers.
  self->send(ra, subscribe_atom::value, as_subscriber(self));
  run();
  fetch<std::vector<price_update>>();
  tick(0, ta, 1);
  tick(1, ta, 2);
  auto xs = received();
  ASSERT_EQ(xs.size(), 1u);
  EXPECT_EQ(xs[0].price, 2);
}

TEST_F(failover, a_move_away_and_back_keeps_the_subscription) {
  // a goes down and comes back while the relay's first attempt at a is
  // still on its way: both attempts at a end at the same broadcaster, and
  // the stale one must not undo the current one.
  recs[0]->hold = true;
  self->send(dir, get_atom::value, ta, publisher{});
  run();
  auto ra = fetch<publisher>();
  self->send(dir, hub_atom::value, ncfg.hubs[0], false);
  run();
  EXPECT_TRUE(subscribed_at(1, ta, ra));
  self->send(dir, hub_atom::value, ncfg.hubs[0], true);
  run();
  EXPECT_FALSE(subscribed_at(1, ta, ra));
  recs[0]->hold = false;
  self->send(links[0], ok_atom::value);
  run();
  EXPECT_TRUE(subscribed_at(0, ta, ra));
  self->send(ra, subscribe_atom::value, as_subscriber(self));
  run();
  fetch<std::vector<price_update>>();
  tick(0, ta, 7);
  auto xs = received();
  ASSERT_EQ(xs.size(), 1u);
  EXPECT_EQ(xs[0].price, 7);
}

TEST_F(failover, with_every_hub_down_tickers_wait_for_their_owner) {
  auto ra = subscribe(ta);
  lose_hub(0);
  EXPECT_TRUE(subscribed_at(1, ta, ra));
  lose_hub(1);
  // Back to a's link (a real one retries until a answers), not to b's.
  EXPECT_TRUE(subscribed_at(0, ta, ra));
  hub_back(1);
  EXPECT_TRUE(subscribed_at(1, ta, ra));
  hub_back(0);
  EXPECT_TRUE(subscribed_at(0, ta, ra));
  EXPECT_FALSE(subscribed_at(1, ta, ra));
}

TEST_F(failover, the_same_state_twice_moves_nothing) {
  auto ra = subscribe(ta);
  hub_back(0); // already up
  EXPECT_EQ(recs[0]->subscribes[ta], 1);
  lose_hub(0);
  self->send(dir, hub_atom::value, ncfg.hubs[0], false);
  self->send(dir, hub_atom::value, std::string{"unknown:1"}, false);
  run();
  EXPECT_EQ(recs[1]->subscribes[ta], 1);
  EXPECT_TRUE(subscribed_at(1, ta, ra));
}

} // namespace
} // namespace mm::test
