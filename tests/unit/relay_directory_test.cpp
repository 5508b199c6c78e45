// An edge's relay directory (actors/cluster/relay_directory.cpp) on the
// test coordinator, with stand-in hub links: one relay per ticker, a relay
// that ends is forgotten, the --max-tickers cap, start reaching every link,
// last prices from the owning hubs and the inspector's answers.
// failover_test covers the moves between hubs.

#include "actors/cluster/relay_directory.hpp"

#include <memory>
#include <string>
#include <vector>

#include "actors/cluster/node_identity.hpp"
#include "actors/cluster/rendezvous.hpp"
#include "actors/errors.hpp"
#include "actors/inspection.hpp"

#include "actor_fixture.hpp"
#include "fake_hub.hpp"

using namespace mm;
using namespace mm::test;

namespace {

class relay_directory_test : public edge_fixture {
public:
  relay_directory_test() : edge_fixture({"a:1", "b:1"}), id(node_role::edge) {
    // nop
  }

  /// Spawns the directory under test with the stand-in links.
  void start() {
    dir = spawn_relay_directory(sys, ncfg, m, id, hub_links());
    cleanup.push_back(dir);
    run();
  }

  /// The directory's answer to `(get_atom, ticker, dead_hint)`.
  caf::expected<publisher> get(const std::string& ticker,
                               const publisher& dead_hint = {}) {
    self->send(dir, get_atom::value, ticker, dead_hint);
    run();
    return fetch_expected<publisher>();
  }

  /// A ticker whose owner is hub `i`.
  std::string owned_by(size_t i) {
    for (int n = 0;; ++n) {
      auto t = "T" + std::to_string(n);
      if (owner_of(t, ncfg.hubs) == i)
        return t;
    }
  }

  node_identity id;
  relay_directory_actor dir;
};

TEST_F(relay_directory_test, hands_out_one_relay_per_ticker) {
  start();
  auto r1 = get("AAPL");
  auto r2 = get("AAPL");
  auto r3 = get("MSFT");
  ASSERT_TRUE(r1 && r2 && r3);
  EXPECT_TRUE(*r1);
  EXPECT_EQ(*r1, *r2);
  EXPECT_NE(*r1, *r3);
  EXPECT_EQ(m.relays.load(), 2);
}

TEST_F(relay_directory_test,
       a_relay_subscribes_at_the_hub_that_owns_its_ticker) {
  start();
  for (size_t i = 0; i < recs.size(); ++i) {
    auto t = owned_by(i);
    auto r = get(t);
    ASSERT_TRUE(r);
    EXPECT_EQ(recs[i]->subscribers[t].count(r->address()), 1u) << t;
    EXPECT_EQ(recs[1 - i]->subscribes.count(t), 0u) << t;
  }
}

TEST_F(relay_directory_test, a_dead_hint_gets_a_new_relay) {
  start();
  auto r1 = get("AAPL");
  ASSERT_TRUE(r1);
  auto r2 = get("AAPL", *r1);
  ASSERT_TRUE(r2);
  EXPECT_NE(*r1, *r2);
  EXPECT_EQ(get("AAPL").value(), *r2);
}

TEST_F(relay_directory_test, a_relay_that_ends_unused_is_forgotten) {
  start();
  auto r1 = get("AAPL");
  ASSERT_TRUE(r1);
  self->monitor(*r1);
  // Nobody subscribes: it lingers out and leaves the hub.
  advance(ncfg.linger_ms);
  ASSERT_TRUE(took_down(*r1));
  EXPECT_EQ(m.relays.load(), 0);
  auto r2 = get("AAPL");
  ASSERT_TRUE(r2);
  EXPECT_NE(*r1, *r2);
  EXPECT_EQ(m.relays.load(), 1);
}

TEST_F(relay_directory_test, max_tickers_caps_the_relays) {
  ncfg.max_tickers = 1;
  start();
  ASSERT_TRUE(get("AAPL"));
  auto refused = get("MSFT");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), ec::ticker_limit);
  EXPECT_EQ(m.ticker_limit_total.load(), 1u);
  // A ticker in use is not a new one.
  EXPECT_TRUE(get("AAPL"));
  EXPECT_EQ(m.relays.load(), 1);
}

TEST_F(relay_directory_test, start_reaches_every_link) {
  start();
  self->send(dir, start_atom::value);
  run();
  for (auto& hub : recs)
    EXPECT_EQ(hub->started, 1);
}

TEST_F(relay_directory_test, last_prices_come_from_the_owning_hubs) {
  start();
  auto ta = owned_by(0);
  auto tb = owned_by(1);
  price_update a;
  a.ticker = ta;
  a.price = 1;
  price_update b;
  b.ticker = tb;
  b.price = 2;
  // Each hub knows its own tickers only.
  recs[0]->last[ta] = a;
  recs[1]->last[tb] = b;
  self->send(dir, last_atom::value, std::vector<std::string>{tb, ta, "NONE"});
  run();
  auto xs = fetch<std::vector<price_update>>();
  ASSERT_EQ(xs.size(), 2u);
  // Sorted by ticker.
  auto first = ta < tb ? a : b;
  auto second = ta < tb ? b : a;
  EXPECT_EQ(xs[0].ticker, first.ticker);
  EXPECT_EQ(xs[0].price, first.price);
  EXPECT_EQ(xs[1].ticker, second.ticker);
  EXPECT_EQ(xs[1].price, second.price);
}

TEST_F(relay_directory_test, describes_its_relays_and_refuses_unknown_tickers) {
  start();
  ASSERT_TRUE(get("MSFT"));
  ASSERT_TRUE(get("AAPL"));
  self->send(dir, describe_atom::value);
  run();
  auto xs = fetch<std::vector<ticker_info>>();
  ASSERT_EQ(xs.size(), 2u);
  EXPECT_EQ(xs[0].ticker, "AAPL");
  EXPECT_EQ(xs[1].ticker, "MSFT");
  self->send(dir, describe_atom::value, std::string{"AAPL"});
  run();
  EXPECT_EQ(fetch<ticker_info>().ticker, "AAPL");
  self->send(dir, describe_atom::value, std::string{"NONE"});
  run();
  EXPECT_EQ(fetch_error(), admin_ec::unknown_ticker);
}

TEST_F(relay_directory_test, its_exit_ends_its_relays) {
  start();
  auto r = get("AAPL");
  ASSERT_TRUE(r);
  self->monitor(*r);
  self->send_exit(dir, caf::exit_reason::user_shutdown);
  run();
  EXPECT_TRUE(took_down(*r));
  EXPECT_EQ(m.relays.load(), 0);
}

} // namespace
