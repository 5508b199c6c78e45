// The limits per client and per node (docs/security.md): the session count
// per client in the registry, the ticker cap in the directory, and the pure
// pieces of the gRPC layer's checks (token bucket, rate limiter, allowlist).

#include <chrono>

#include "actors/session.hpp"
#include "actors/session_registry.hpp"
#include "actors/ticker_directory.hpp"
#include "actors/ticker_patterns.hpp"
#include "service/rate_limiter.hpp"

#include "actor_fixture.hpp"

using namespace mm;
using namespace mm::test;

namespace {

// --- actors (test_coordinator)
// ------------------------------------------------

class limits_test : public actor_fixture {
public:
  limits_test() {
    ncfg.max_sessions = 100;
    ncfg.max_sessions_per_client = 2;
    ncfg.max_tickers = 2;
    directory = spawn_ticker_directory(sys, spawn_recording_listener(watched),
                                       ncfg, m);
    registry = spawn_session_registry(sys, directory, ncfg, m);
    cleanup.push_back(registry);
    cleanup.push_back(directory);
  }

  /// Starts a session for `client` ("" : the message without a client) and
  /// returns its id, or an empty string and the error in `err`.
  std::string start(std::vector<std::string> tickers, const std::string& client,
                    caf::error* err = nullptr,
                    std::vector<std::string>* subscribed = nullptr) {
    session_options opts;
    opts.max_batch = ncfg.max_batch;
    if (client.empty())
      self->send(registry, start_atom::value, std::move(tickers), opts);
    else
      self->send(registry, start_atom::value, std::move(tickers), opts,
                 std::string{}, client);
    run();
    std::string result;
    bool got = false;
    self->receive(
      [&](const std::string& id, const std::vector<std::string>& xs) {
        result = id;
        got = true;
        if (subscribed)
          *subscribed = xs;
      },
      [&](const caf::error& e) {
        got = true;
        if (err)
          *err = e;
      },
      caf::after(std::chrono::seconds(0)) >> [] {});
    EXPECT_TRUE(got) << "no reply to start";
    return result;
  }

  session_actor find(const std::string& id) {
    self->send(registry, find_atom::value, id);
    run();
    session_actor result;
    self->receive([&](const session_actor& s) { result = s; },
                  [&](const caf::error&) {},
                  caf::after(std::chrono::seconds(0)) >> [] {});
    return result;
  }

  /// UpdateSubscription's request to session `s`; the resulting tickers or
  /// the error.
  caf::expected<std::vector<std::string>>
  update(const session_actor& s, std::vector<std::string> add,
         std::vector<std::string> remove = {}) {
    self->send(s, update_atom::value, std::move(add), std::move(remove));
    run();
    return fetch_expected<std::vector<std::string>>();
  }

  std::shared_ptr<std::vector<std::string>> watched =
    std::make_shared<std::vector<std::string>>();
  hub_directory_actor directory;
  session_registry_actor registry;
};

TEST_F(limits_test, sessions_per_client_are_capped_and_counted_down) {
  auto a1 = start({"AAPL"}, "peer:10.0.0.1");
  auto a2 = start({"AAPL"}, "peer:10.0.0.1");
  ASSERT_FALSE(a1.empty());
  ASSERT_FALSE(a2.empty());
  caf::error err;
  EXPECT_TRUE(start({"AAPL"}, "peer:10.0.0.1", &err).empty());
  EXPECT_EQ(code_of(err), ec::session_limit);
  EXPECT_NE(text_of(err).find("client session limit of 2"), std::string::npos)
    << text_of(err);
  EXPECT_NE(text_of(err).find("--max-sessions-per-client 2"), std::string::npos)
    << text_of(err);
  EXPECT_EQ(m.client_session_limit_total.load(), 1u);
  // Another client, and calls without a client key, are not affected.
  EXPECT_FALSE(start({"AAPL"}, "peer:10.0.0.2").empty());
  EXPECT_FALSE(start({"AAPL"}, "id:alice").empty());
  EXPECT_FALSE(start({"AAPL"}, "").empty());
  EXPECT_FALSE(start({"AAPL"}, "").empty());
  EXPECT_FALSE(start({"AAPL"}, "").empty());
  // A session that stops frees its slot ...
  request_ok(find(a1), stop_atom::value);
  auto a3 = start({"AAPL"}, "peer:10.0.0.1");
  EXPECT_FALSE(a3.empty());
  EXPECT_TRUE(start({"AAPL"}, "peer:10.0.0.1", &err).empty());
  // ... and so does one that expires or is killed: every end counts down,
  // since the registry follows the session actor, not the RPC.
  advance(ncfg.attach_timeout_ms);
  EXPECT_EQ(m.sessions.load(), 0);
  auto b1 = start({"AAPL"}, "peer:10.0.0.1");
  auto b2 = start({"AAPL"}, "peer:10.0.0.1");
  ASSERT_FALSE(b2.empty());
  self->send(find(b1), kill_atom::value, std::string{"test"});
  run();
  EXPECT_FALSE(start({"AAPL"}, "peer:10.0.0.1").empty());
}

TEST_F(limits_test, the_directory_refuses_tickers_beyond_the_cap) {
  auto get = [&](const std::string& t) -> caf::expected<publisher> {
    self->send(directory, get_atom::value, t, publisher{});
    run();
    caf::expected<publisher> result{publisher{}};
    self->receive([&](const publisher& b) { result = b; },
                  [&](const caf::error& e) { result = e; },
                  caf::after(std::chrono::seconds(0)) >> [] { FAIL(); });
    return result;
  };
  auto aapl = get("AAPL");
  ASSERT_TRUE(aapl);
  ASSERT_TRUE(get("MSFT"));
  auto goog = get("GOOG");
  ASSERT_FALSE(goog);
  EXPECT_EQ(code_of(goog.error()), ec::ticker_limit);
  auto text = text_of(goog.error());
  EXPECT_NE(text.find("GOOG"), std::string::npos) << text;
  EXPECT_NE(text.find("--max-tickers 2"), std::string::npos) << text;
  EXPECT_EQ(m.ticker_limit_total.load(), 1u);
  EXPECT_EQ(m.broadcasters.load(), 2);
  EXPECT_EQ(*watched, (std::vector<std::string>{"AAPL", "MSFT"}));
  // Existing tickers stay usable at the cap.
  auto again = get("AAPL");
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *aapl);
}

TEST_F(limits_test, a_session_beyond_the_ticker_cap_is_refused_and_ends) {
  auto ok = start({"AAPL", "MSFT"}, "peer:a");
  ASSERT_FALSE(ok.empty());
  caf::error err;
  EXPECT_TRUE(start({"AAPL", "GOOG"}, "peer:b", &err).empty());
  EXPECT_EQ(code_of(err), ec::ticker_limit);
  EXPECT_NE(text_of(err).find("GOOG"), std::string::npos);
  // The refused session is gone, the other one runs.
  EXPECT_EQ(m.sessions.load(), 1);
  // A session with a stream attached from the start ends with the error.
  auto sink = std::make_shared<fake_sink>();
  session_options opts;
  opts.max_batch = ncfg.max_batch;
  self->send(registry, start_atom::value, std::vector<std::string>{"IBM"}, opts,
             std::string{}, std::string{"peer:c"}, stream_sink_ptr{sink});
  run();
  self->receive(
    [](const std::string&, const std::vector<std::string>&) {
      ADD_FAILURE() << "started beyond the cap";
    },
    [](const caf::error&) {},
    caf::after(std::chrono::seconds(0)) >> [] { ADD_FAILURE() << "no reply"; });
  EXPECT_EQ(code_of(sink->finished), ec::ticker_limit);
  EXPECT_EQ(m.sessions.load(), 1);
}

TEST_F(limits_test, a_refusal_before_the_start_request_is_not_lost) {
  // The directory may refuse before the registry's start request reaches
  // the new session: the start request still gets the refusal.
  ASSERT_FALSE(start({"AAPL", "MSFT"}, "peer:a").empty());
  session_options opts;
  opts.max_batch = ncfg.max_batch;
  auto s = spawn_session(sys, "early", {"GOOG"}, opts, nullptr, directory, ncfg,
                         m);
  run();
  self->send(s, start_atom::value);
  run();
  bool refused = false;
  self->receive(
    [](const std::string&, const std::vector<std::string>&) {},
    [&](const caf::error& e) { refused = code_of(e) == ec::ticker_limit; },
    caf::after(std::chrono::seconds(0)) >> [] { ADD_FAILURE() << "no reply"; });
  EXPECT_TRUE(refused);
  // ... and the session is gone.
  auto rh = self->request(s, caf::infinite, start_atom::value);
  run();
  bool gone = false;
  rh.receive([](const std::string&, const std::vector<std::string>&) {},
             [&](const caf::error& e) {
               gone = e == caf::sec::request_receiver_down;
             });
  EXPECT_TRUE(gone);
}

TEST_F(limits_test, an_update_beyond_the_ticker_cap_keeps_the_session) {
  auto id = start({"AAPL"}, "peer:a");
  ASSERT_FALSE(id.empty());
  auto s = find(id);
  auto r = update(s, {"MSFT"});
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, (std::vector<std::string>{"AAPL", "MSFT"}));
  r = update(s, {"GOOG"});
  ASSERT_FALSE(r);
  EXPECT_EQ(code_of(r.error()), ec::ticker_limit);
  EXPECT_TRUE(find(id)) << "the session ended";
  // Its tickers are the ones it had.
  r = update(s, {}, {"MSFT"});
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, (std::vector<std::string>{"AAPL"}));
}

TEST_F(limits_test, a_broadcaster_that_lingers_out_frees_a_slot) {
  auto a = start({"AAPL", "MSFT"}, "peer:a");
  ASSERT_FALSE(a.empty());
  caf::error err;
  EXPECT_TRUE(start({"GOOG"}, "peer:a", &err).empty());
  request_ok(find(a), stop_atom::value);
  advance(ncfg.linger_ms);
  EXPECT_EQ(m.broadcasters.load(), 0);
  std::vector<std::string> subscribed;
  EXPECT_FALSE(start({"GOOG"}, "peer:a", nullptr, &subscribed).empty());
  EXPECT_EQ(subscribed, (std::vector<std::string>{"GOOG"}));
}

// --- token bucket and rate limiter
// --------------------------------------------

using std::chrono::milliseconds;
using tb_clock = token_bucket::clock;

TEST(token_bucket, allows_a_burst_then_the_rate) {
  auto t0 = tb_clock::time_point{} + std::chrono::hours{1};
  token_bucket b{10.0, 3.0, t0};
  EXPECT_TRUE(b.take(t0));
  EXPECT_TRUE(b.take(t0));
  EXPECT_TRUE(b.take(t0));
  EXPECT_FALSE(b.take(t0));
  // 10 per second: one token back after 100 ms, not before.
  EXPECT_FALSE(b.take(t0 + milliseconds{99}));
  EXPECT_TRUE(b.take(t0 + milliseconds{100}));
  EXPECT_FALSE(b.take(t0 + milliseconds{150}));
  EXPECT_FALSE(b.full(t0 + milliseconds{150}));
  // Never more than the burst, however long it rests.
  auto later = t0 + std::chrono::seconds{60};
  EXPECT_TRUE(b.full(later));
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(b.take(later));
  EXPECT_FALSE(b.take(later));
}

TEST(token_bucket, a_clock_going_backwards_gives_nothing) {
  auto t0 = tb_clock::time_point{} + std::chrono::hours{1};
  token_bucket b{1.0, 1.0, t0};
  EXPECT_TRUE(b.take(t0));
  EXPECT_FALSE(b.take(t0 - std::chrono::seconds{10}));
  EXPECT_FALSE(b.take(t0 + milliseconds{500}));
  EXPECT_TRUE(b.take(t0 + milliseconds{1000}));
}

TEST(rate_limiter, limits_each_client_on_its_own) {
  auto t0 = tb_clock::time_point{} + std::chrono::hours{1};
  rate_limiter rl{2, 4};
  for (int i = 0; i < 4; ++i)
    EXPECT_TRUE(rl.allow("peer:a", t0));
  EXPECT_FALSE(rl.allow("peer:a", t0));
  EXPECT_TRUE(rl.allow("peer:b", t0));
  EXPECT_TRUE(rl.allow("peer:a", t0 + milliseconds{500}));
  EXPECT_FALSE(rl.allow("peer:a", t0 + milliseconds{500}));
}

TEST(rate_limiter, burst_defaults_to_the_rate_and_zero_is_off) {
  auto t0 = tb_clock::time_point{} + std::chrono::hours{1};
  rate_limiter rl{3, 0};
  EXPECT_EQ(rl.burst(), 3u);
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(rl.allow("k", t0));
  EXPECT_FALSE(rl.allow("k", t0));
  rate_limiter off{0, 0};
  for (int i = 0; i < 10000; ++i)
    ASSERT_TRUE(off.allow("k", t0));
  EXPECT_EQ(off.size(), 0u);
}

TEST(rate_limiter, forgets_idle_clients) {
  auto t0 = tb_clock::time_point{} + std::chrono::hours{1};
  rate_limiter rl{10, 10};
  for (int i = 0; i < 1000; ++i)
    EXPECT_TRUE(rl.allow("peer:10.0." + std::to_string(i), t0));
  EXPECT_EQ(rl.size(), 1000u);
  // One client keeps calling; the others' buckets fill up (1 s) and go.
  auto t = t0;
  for (int i = 0; i < 30; ++i) {
    t += milliseconds{100};
    rl.allow("busy", t);
    rl.allow("busy", t);
  }
  EXPECT_EQ(rl.size(), 1u);
  // A forgotten client starts again with a full bucket.
  for (int i = 0; i < 10; ++i)
    EXPECT_TRUE(rl.allow("peer:10.0.1", t));
  EXPECT_FALSE(rl.allow("peer:10.0.1", t));
}

// --- ticker patterns (--ticker-allowlist)
// --------------------------------------

TEST(ticker_patterns, exact_names_and_prefixes) {
  ticker_patterns xs;
  auto err = xs.parse("# our tickers\n"
                      "AAPL\n"
                      "  msft  # lower case is upper-cased\n"
                      "\n"
                      "FX.*\n"
                      "BTC-*\r\n");
  EXPECT_FALSE(err) << text_of(err);
  EXPECT_FALSE(xs.empty());
  EXPECT_TRUE(xs.matches("AAPL"));
  EXPECT_TRUE(xs.matches("MSFT"));
  EXPECT_FALSE(xs.matches("AAPLX"));
  EXPECT_FALSE(xs.matches("AAP"));
  EXPECT_TRUE(xs.matches("FX.EURUSD"));
  EXPECT_TRUE(xs.matches("FX."));
  EXPECT_FALSE(xs.matches("FX"));
  EXPECT_FALSE(xs.matches("FXEURUSD"));
  EXPECT_TRUE(xs.matches("BTC-USD"));
  EXPECT_FALSE(xs.matches("GOOG"));
  EXPECT_EQ(xs.patterns(),
            (std::vector<std::string>{"AAPL", "MSFT", "BTC-*", "FX.*"}));
  auto ys = ticker_patterns::from(xs.patterns());
  EXPECT_EQ(ys.patterns(), xs.patterns());
}

TEST(ticker_patterns, a_lone_star_matches_everything) {
  ticker_patterns xs;
  auto err = xs.add("*");
  EXPECT_FALSE(err) << text_of(err);
  EXPECT_TRUE(xs.matches("A"));
  EXPECT_TRUE(xs.matches("ZZZZZZZZZZZZZZZZ"));
}

TEST(ticker_patterns, bad_lines_are_named) {
  ticker_patterns xs;
  /// The text of `parse(text)`'s error (checked to be ec::bad_ticker), or "".
  auto parse = [&xs](std::string_view text) {
    auto err = xs.parse(text);
    EXPECT_EQ(code_of(err), err ? ec::bad_ticker : ec::none) << text;
    return text_of(err);
  };
  auto what = parse("AAPL\n\nBAD TICKER\n");
  EXPECT_EQ(what.rfind("line 3: malformed ticker \"BAD TICKER\"", 0), 0u)
    << what;
  EXPECT_NE(parse("A*B\n").find("line 1: malformed"), std::string::npos);
  EXPECT_NE(parse("**\n").find("line 1: malformed prefix"), std::string::npos);
  EXPECT_NE(parse(".X*\n").find("malformed prefix"), std::string::npos);
  EXPECT_NE(parse("ABCDEFGHIJKLMNOPQ\n").find("malformed ticker"),
            std::string::npos);
  ticker_patterns empty;
  auto err = empty.parse("# nothing\n\n   \n");
  EXPECT_FALSE(err) << text_of(err);
  EXPECT_TRUE(empty.empty());
}

TEST(ticker_patterns, add_names_what_is_wrong) {
  ticker_patterns xs;
  auto err = xs.add("   ");
  EXPECT_EQ(code_of(err), ec::bad_ticker);
  EXPECT_EQ(text_of(err), "empty pattern");
  err = xs.add("fx.eur usd*");
  EXPECT_EQ(code_of(err), ec::bad_ticker);
  EXPECT_EQ(text_of(err).rfind("malformed prefix \"fx.eur usd*\"", 0), 0u)
    << text_of(err);
  err = xs.add("bad!");
  EXPECT_EQ(code_of(err), ec::bad_ticker);
  EXPECT_EQ(text_of(err).rfind("malformed ticker \"bad!\"", 0), 0u)
    << text_of(err);
  EXPECT_TRUE(xs.empty()) << "a bad pattern adds nothing";
}

} // namespace
