// The ticker directory (actors/ticker_directory.cpp) on the test
// coordinator: one broadcaster per ticker, the --max-tickers cap, a
// broadcaster that dies, and its answers to GetLastPrices and the inspector
// (sorted by ticker, tickers without a broadcaster left out).

#include "actors/ticker_directory.hpp"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "actors/errors.hpp"
#include "actors/inspection.hpp"

#include "actor_fixture.hpp"
#include "tickers_of.hpp"

using namespace mm;
using namespace mm::test;

namespace {

using names = std::vector<std::string>;

class directory_test : public actor_fixture {
public:
  directory_test() {
    ncfg.max_tickers = 3;
  }

  /// Spawns the directory under test with the fixture's config.
  void start() {
    auto w = watched;
    auto known =
      std::make_shared<std::map<std::string, ticker_broadcaster_actor>>();
    listener = sys.spawn(
      [w, known](fake_listener::pointer self) -> fake_listener::behavior_type {
        return {
          [w, known](watch_atom, const std::string& t,
                     const ticker_broadcaster_actor& b) {
            w->push_back(t);
            (*known)[t] = b;
          },
          // Broadcasters take ticks from their listener only.
          [self, known](const std::string& t, const tick& x) {
            self->send((*known)[t], x);
          },
        };
      });
    cleanup.push_back(listener);
    directory = spawn_ticker_directory(sys, listener, ncfg, m);
    cleanup.push_back(directory);
  }

  /// The directory's answer to `(get_atom, ticker, dead_hint)`.
  caf::expected<publisher> get(const std::string& ticker,
                               const publisher& dead_hint = {}) {
    self->send(directory, get_atom::value, ticker, dead_hint);
    run();
    return fetch_expected<publisher>();
  }

  /// Sends the broadcaster of `ticker` a tick at `price` through the
  /// listener and runs it.
  void publish(const std::string& ticker, double price) {
    self->send(listener, ticker, tick{price, 100, 1763800000000000000});
    run();
  }

  /// Ends `b` as if it had crashed.
  void kill(const publisher& b) {
    self->send_exit(b, caf::exit_reason::kill);
    run();
  }

  template <class T>
  T ask(const names& tickers, bool last) {
    if (last)
      self->send(directory, last_atom::value, tickers);
    else
      self->send(directory, health_atom::value, tickers);
    run();
    return fetch<T>();
  }

  std::vector<ticker_info> describe() {
    self->send(directory, describe_atom::value);
    run();
    return fetch<std::vector<ticker_info>>();
  }

  /// The redis listener's stand-in, which also passes the test's ticks on.
  using fake_listener =
    redis_listener_actor::extend<caf::reacts_to<std::string, tick>>;

  std::shared_ptr<names> watched = std::make_shared<names>();
  fake_listener listener;
  hub_directory_actor directory;
};

TEST_F(directory_test, one_broadcaster_per_ticker_and_the_listener_watches) {
  start();
  auto aapl = get("AAPL");
  ASSERT_TRUE(aapl);
  ASSERT_TRUE(*aapl);
  auto again = get("AAPL");
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *aapl);
  auto msft = get("MSFT");
  ASSERT_TRUE(msft);
  EXPECT_NE(*msft, *aapl);
  EXPECT_EQ(*watched, (names{"AAPL", "MSFT"}));
  EXPECT_EQ(m.broadcasters.load(), 2);
}

TEST_F(directory_test, a_broadcaster_that_dies_is_replaced_on_next_demand) {
  start();
  auto aapl = get("AAPL");
  ASSERT_TRUE(aapl);
  kill(*aapl);
  auto fresh = get("AAPL");
  ASSERT_TRUE(fresh);
  EXPECT_NE(*fresh, *aapl);
  EXPECT_EQ(*watched, (names{"AAPL", "AAPL"}));
  EXPECT_EQ(describe().size(), 1u);
}

TEST_F(directory_test, a_dead_hint_replaces_the_broadcaster_at_once) {
  start();
  auto aapl = get("AAPL");
  ASSERT_TRUE(aapl);
  // The caller saw it gone before the directory's down_msg arrived: the
  // hint alone makes a fresh one, even at the cap.
  ASSERT_TRUE(get("MSFT"));
  ASSERT_TRUE(get("IBM"));
  auto fresh = get("AAPL", *aapl);
  ASSERT_TRUE(fresh);
  EXPECT_NE(*fresh, *aapl);
  // A hint that is not the current one changes nothing.
  auto same = get("AAPL", *aapl);
  ASSERT_TRUE(same);
  EXPECT_EQ(*same, *fresh);
}

TEST_F(directory_test, the_cap_counts_live_broadcasters_only) {
  start();
  auto aapl = get("AAPL");
  ASSERT_TRUE(aapl);
  ASSERT_TRUE(get("MSFT"));
  ASSERT_TRUE(get("IBM"));
  auto refused = get("GOOG");
  ASSERT_FALSE(refused);
  EXPECT_EQ(code_of(refused.error()), ec::ticker_limit);
  EXPECT_EQ(text_of(refused.error()),
            "ticker limit of 3 distinct tickers per node reached "
            "(--max-tickers 3): cannot subscribe ticker GOOG");
  EXPECT_EQ(m.ticker_limit_total.load(), 1u);
  // A broadcaster that ends frees its slot.
  kill(*aapl);
  EXPECT_TRUE(get("GOOG"));
  EXPECT_FALSE(get("AAPL"));
  EXPECT_EQ(m.ticker_limit_total.load(), 2u);
}

TEST_F(directory_test, no_cap_when_max_tickers_is_0) {
  ncfg.max_tickers = 0;
  start();
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(get("T" + std::to_string(i)));
  EXPECT_EQ(m.ticker_limit_total.load(), 0u);
  EXPECT_EQ(watched->size(), 20u);
}

TEST_F(directory_test, last_prices_are_sorted_and_skip_tickers_without_one) {
  start();
  for (auto t : {"MSFT", "AAPL", "IBM"}) {
    ASSERT_TRUE(get(t));
    publish(t, t[0] == 'M' ? 300.5 : 100);
  }
  auto xs = ask<std::vector<price_update>>({"MSFT", "GOOG", "AAPL", "IBM"},
                                           true);
  EXPECT_EQ(tickers_of(xs), (names{"AAPL", "IBM", "MSFT"}));
  ASSERT_EQ(xs.size(), 3u);
  EXPECT_DOUBLE_EQ(xs[2].price, 300.5);
  // Only tickers without a broadcaster: an empty answer.
  EXPECT_TRUE(ask<std::vector<price_update>>({"GOOG"}, true).empty());
  EXPECT_TRUE(ask<std::vector<price_update>>({}, true).empty());
}

TEST_F(directory_test, health_is_sorted_and_a_dead_broadcaster_is_left_out) {
  start();
  auto msft = get("MSFT");
  auto aapl = get("AAPL");
  ASSERT_TRUE(msft && aapl);
  publish("AAPL", 189.25);
  auto xs = ask<std::vector<ticker_health>>({"MSFT", "AAPL"}, false);
  ASSERT_EQ(tickers_of(xs), (names{"AAPL", "MSFT"}));
  ASSERT_EQ(xs[0].last.size(), 1u);
  EXPECT_DOUBLE_EQ(xs[0].last[0].price, 189.25);
  EXPECT_TRUE(xs[1].last.empty());
  EXPECT_EQ(xs[1].last_tick_age_ms, -1);
  kill(*msft);
  EXPECT_EQ(tickers_of(
              ask<std::vector<ticker_health>>({"MSFT", "AAPL"}, false)),
            names{"AAPL"});
}

TEST_F(directory_test, describe_lists_every_broadcaster_sorted) {
  start();
  EXPECT_TRUE(describe().empty());
  for (auto t : {"MSFT", "AAPL", "IBM"})
    ASSERT_TRUE(get(t));
  publish("AAPL", 1.5);
  auto xs = describe();
  ASSERT_EQ(tickers_of(xs), (names{"AAPL", "IBM", "MSFT"}));
  EXPECT_EQ(xs[0].seq, 1u);
  EXPECT_EQ(xs[0].last.size(), 1u);
  EXPECT_EQ(xs[1].seq, 0u);
  EXPECT_EQ(xs[0].subscribers, 0u);
}

TEST_F(directory_test, describe_one_ticker_or_say_there_is_none) {
  start();
  auto ibm = get("IBM");
  ASSERT_TRUE(ibm);
  self->send(directory, describe_atom::value, std::string{"IBM"});
  run();
  EXPECT_EQ(fetch<ticker_info>().ticker, "IBM");
  self->send(directory, describe_atom::value, std::string{"GOOG"});
  run();
  auto err = fetch_error();
  EXPECT_EQ(err, admin_ec::unknown_ticker) << sys.render(err);
  EXPECT_EQ(text_of(err),
            "no broadcaster for ticker GOOG: nobody subscribes to it");
  // A broadcaster that died is unknown as well.
  kill(*ibm);
  self->send(directory, describe_atom::value, std::string{"IBM"});
  run();
  EXPECT_EQ(fetch_error(), admin_ec::unknown_ticker);
}

TEST_F(directory_test, a_standalone_node_describes_itself_and_has_no_peers) {
  start();
  self->send(directory, node_atom::value);
  run();
  auto me = fetch<node_info>();
  EXPECT_EQ(me.role, "standalone");
  EXPECT_EQ(me.state, "self");
  self->send(directory, nodes_atom::value);
  run();
  EXPECT_TRUE(fetch<std::vector<node_info>>().empty());
}

} // namespace
