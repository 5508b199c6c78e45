// The inspector (actors/inspector.cpp) on the test coordinator, over a real
// ticker directory and session registry: what it answers the shell, the
// admin secret and its delays, invalid tickers, the --max-tickers cap on
// `watch`, a broadcaster or listener that dies, sorted outputs.

#include "actors/inspector.hpp"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "actors/cluster/node_identity.hpp"
#include "actors/errors.hpp"
#include "actors/inspection.hpp"
#include "actors/session_registry.hpp"
#include "actors/ticker_directory.hpp"

#include "actor_fixture.hpp"
#include "tickers_of.hpp"

using namespace mm;
using namespace mm::test;

namespace {

using names = std::vector<std::string>;

const std::string secret = "s3cret";

class inspector_test : public actor_fixture {
public:
  inspector_test() : identity(node_role::standalone) {
    ncfg.admin_secret = secret;
    ncfg.max_tickers = 4;
    listener = spawn_recording_listener(watched);
    directory = spawn_ticker_directory(sys, listener, ncfg, m);
    registry = spawn_session_registry(sys, directory, ncfg, m);
    inspected parts;
    parts.cfg = &ncfg;
    parts.stats = &m;
    parts.identity = &identity;
    parts.registry = registry;
    parts.directory = directory;
    parts.listener = listener;
    inspector = spawn_inspector(sys, parts);
    cleanup.push_back(inspector);
    cleanup.push_back(registry);
    cleanup.push_back(directory);
    run();
  }

  /// Starts a session on `tickers` and returns its id.
  std::string start(names tickers) {
    session_options opts;
    opts.max_batch = ncfg.max_batch;
    self->send(registry, start_atom::value, std::move(tickers), opts);
    run();
    std::string result;
    self->receive([&](const std::string& id, const names&) { result = id; },
                  [&](const caf::error& e) {
                    ADD_FAILURE() << "start failed: " << sys.render(e);
                  },
                  caf::after(std::chrono::seconds(0)) >>
                    [] { ADD_FAILURE() << "no reply to start"; });
    return result;
  }

  /// The broadcaster of `ticker` (spawned if there is none).
  publisher broadcaster(const std::string& ticker) {
    self->send(directory, get_atom::value, ticker, publisher{});
    run();
    return fetch<publisher>();
  }

  /// Sends the inspector `xs...` and runs the actors.
  template <class... Ts>
  void send(Ts&&... xs) {
    self->send(inspector, std::forward<Ts>(xs)...);
    run();
  }

  std::vector<session_info> sessions(const std::string& ticker = {},
                                     uint32_t limit = 0) {
    send(sessions_atom::value, secret, ticker, limit);
    return fetch<std::vector<session_info>>();
  }

  std::vector<ticker_info> tickers() {
    send(tickers_atom::value, secret);
    return fetch<std::vector<ticker_info>>();
  }

  std::shared_ptr<names> watched = std::make_shared<names>();
  node_identity identity;
  redis_listener_actor listener;
  hub_directory_actor directory;
  session_registry_actor registry;
  inspector_actor inspector;
};

TEST_F(inspector_test, hello_with_the_secret) {
  send(hello_atom::value, secret);
  EXPECT_EQ(fetch<std::string>(), "marketmonitor inspector");
}

TEST_F(inspector_test, a_wrong_secret_is_refused_later_each_time) {
  send(hello_atom::value, std::string{"guess"});
  EXPECT_FALSE(has_message()) << "refused without a delay";
  advance(99);
  EXPECT_FALSE(has_message());
  advance(1);
  EXPECT_EQ(fetch_error(), admin_ec::secret_rejected);
  // The second failure in a row waits twice as long.
  send(tickers_atom::value, std::string{"guess"});
  advance(100);
  EXPECT_FALSE(has_message());
  advance(100);
  EXPECT_EQ(fetch_error(), admin_ec::secret_rejected);
  // The right secret answers at once and resets the count.
  send(hello_atom::value, secret);
  EXPECT_EQ(fetch<std::string>(), "marketmonitor inspector");
  send(hello_atom::value, std::string{});
  advance(100);
  EXPECT_EQ(fetch_error(), admin_ec::secret_rejected);
}

TEST_F(inspector_test, stats_count_sessions_and_ended_ones_by_reason) {
  auto a = start({"AAPL"});
  start({"MSFT"});
  request_ok(inspector, kill_atom::value, secret, a, std::string{"test"});
  send(stats_atom::value, secret);
  auto x = fetch<node_stats>();
  EXPECT_EQ(x.sessions, 1);
  EXPECT_EQ(x.sessions_created_total, 2u);
  EXPECT_EQ(x.sessions_ended_total,
            (std::map<std::string, uint64_t>{{"killed", 1}}));
  EXPECT_EQ(x.broadcasters, m.broadcasters.load());
  EXPECT_GE(x.actors_running, 4u);
}

TEST_F(inspector_test, sessions_are_sorted_filtered_and_limited) {
  auto first = start({"AAPL", "MSFT"});
  advance(1);
  auto second = start({"IBM"});
  advance(1);
  auto third = start({"AAPL"});
  auto all = sessions();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].id, first);
  EXPECT_EQ(all[1].id, second);
  EXPECT_EQ(all[2].id, third);
  EXPECT_EQ(all[0].tickers, (names{"AAPL", "MSFT"}));
  // The filter is normalized like every ticker.
  auto aapl = sessions("aapl");
  ASSERT_EQ(aapl.size(), 2u);
  EXPECT_EQ(aapl[0].id, first);
  EXPECT_EQ(aapl[1].id, third);
  EXPECT_TRUE(sessions("GOOG").empty());
  auto limited = sessions("", 2);
  ASSERT_EQ(limited.size(), 2u);
  EXPECT_EQ(limited[1].id, second);
}

TEST_F(inspector_test, an_invalid_ticker_is_a_bad_argument) {
  send(sessions_atom::value, secret, std::string{"not a ticker"}, uint32_t{0});
  auto err = fetch_error();
  EXPECT_EQ(err, admin_ec::bad_argument);
  EXPECT_EQ(text_of(err), "\"not a ticker\" is not a ticker");
  send(ticker_atom::value, secret, std::string{"$$$"});
  EXPECT_EQ(fetch_error(), admin_ec::bad_argument);
  send(watch_atom::value, secret, names{"AAPL", "a b"},
       spawn_idle_subscriber());
  EXPECT_EQ(fetch_error(), admin_ec::bad_argument);
  send(watch_atom::value, secret, names{"AAPL"}, subscriber{});
  EXPECT_EQ(fetch_error(), admin_ec::bad_argument);
  EXPECT_TRUE(watched->empty()) << "a refused watch subscribed";
}

TEST_F(inspector_test, one_session_by_id) {
  auto id = start({"AAPL"});
  send(session_atom::value, secret, id);
  auto x = fetch<session_info>();
  EXPECT_EQ(x.id, id);
  EXPECT_EQ(x.tickers, names{"AAPL"});
  send(session_atom::value, secret, std::string{"no-such-id"});
  EXPECT_EQ(code_of(fetch_error()), ec::unknown_session);
}

TEST_F(inspector_test, tickers_are_sorted_and_a_dead_broadcaster_drops_out) {
  start({"MSFT", "AAPL"});
  auto ibm = broadcaster("IBM");
  EXPECT_EQ(tickers_of(tickers()), (names{"AAPL", "IBM", "MSFT"}));
  send(ticker_atom::value, secret, std::string{"msft"});
  auto msft = fetch<ticker_info>();
  EXPECT_EQ(msft.ticker, "MSFT");
  EXPECT_EQ(msft.subscribers, 1u);
  self->send_exit(ibm, caf::exit_reason::kill);
  run();
  EXPECT_EQ(tickers_of(tickers()), (names{"AAPL", "MSFT"}));
  send(ticker_atom::value, secret, std::string{"IBM"});
  EXPECT_EQ(fetch_error(), admin_ec::unknown_ticker);
}

TEST_F(inspector_test, actors_say_whether_the_singletons_run) {
  start({"AAPL"});
  send(actors_atom::value, secret);
  auto x = fetch<actor_counts>();
  EXPECT_EQ(x.sessions, 1);
  EXPECT_EQ(x.broadcasters, 1);
  EXPECT_EQ(x.registry, 1u);
  EXPECT_EQ(x.directory, 1u);
  EXPECT_EQ(x.listener, 1u);
  EXPECT_EQ(x.inspector, 1u);
  EXPECT_EQ(x.watchers, 0u);
  self->send_exit(listener, caf::exit_reason::kill);
  run();
  send(actors_atom::value, secret);
  auto y = fetch<actor_counts>();
  EXPECT_EQ(y.listener, 0u);
  EXPECT_EQ(y.registry, 1u);
  EXPECT_EQ(y.total + 1, x.total);
}

TEST_F(inspector_test, nodes_start_with_this_node) {
  identity.set_addresses("127.0.0.1:50051", "127.0.0.1:50052");
  send(nodes_atom::value, secret);
  auto xs = fetch<std::vector<node_info>>();
  ASSERT_EQ(xs.size(), 1u);
  EXPECT_EQ(xs[0].role, "standalone");
  EXPECT_EQ(xs[0].address, "127.0.0.1:50051");
  EXPECT_EQ(xs[0].state, "self");
}

TEST_F(inspector_test, kill_ends_the_session_and_an_unknown_id_is_an_error) {
  auto id = start({"AAPL"});
  request_ok(inspector, kill_atom::value, secret, id, std::string{});
  send(session_atom::value, secret, id);
  EXPECT_EQ(code_of(fetch_error()), ec::unknown_session);
  send(kill_atom::value, secret, id, std::string{});
  EXPECT_EQ(code_of(fetch_error()), ec::unknown_session);
}

TEST_F(inspector_test, watch_subscribes_the_watcher_to_each_ticker) {
  auto w = spawn_idle_subscriber();
  send(watch_atom::value, secret, names{"msft", "AAPL", "aapl"}, w);
  auto got = fetch<names>();
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (names{"AAPL", "MSFT"}));
  auto ts = tickers();
  ASSERT_EQ(tickers_of(ts), (names{"AAPL", "MSFT"}));
  EXPECT_EQ(ts[0].subscribers, 1u);
}

TEST_F(inspector_test, watch_beyond_the_ticker_cap_fails_as_a_whole) {
  start({"AAPL", "MSFT", "IBM"});
  send(watch_atom::value, secret, names{"AAPL", "GOOG", "NVDA"},
       spawn_idle_subscriber());
  auto err = fetch_error();
  EXPECT_EQ(code_of(err), ec::ticker_limit) << sys.render(err);
  EXPECT_FALSE(has_message()) << "answered more than once";
}

} // namespace
