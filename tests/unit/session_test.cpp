#include "actors/session.hpp"

#include "actors/ticker_directory.hpp"

#include "actor_fixture.hpp"

using namespace mm;
using namespace mm::test;

namespace {

/// CONFLATE, adaptive flush, no snapshot, batches of at most 500.
session_options conflate_500() {
  session_options result;
  result.max_batch = 500;
  return result;
}

class session_test : public actor_fixture {
public:
  session_test() {
    watched = std::make_shared<std::vector<std::string>>();
    listener = spawn_recording_listener(watched);
    directory = spawn_ticker_directory(sys, listener, ncfg, m);
    cleanup.push_back(directory);
  }

  session_actor start(std::vector<std::string> tickers, session_options opts,
                      stream_sink_ptr sink = nullptr) {
    if (opts.max_batch == 0)
      opts.max_batch = ncfg.max_batch;
    auto s = spawn_session(sys, "id-1", std::move(tickers), opts,
                           std::move(sink), directory, ncfg, m);
    cleanup.push_back(s);
    self->monitor(s);
    self->send(s, start_atom::value);
    run();
    self->receive([](const std::string&, const std::vector<std::string>&) {},
                  [](const caf::error&) {},
                  caf::after(std::chrono::seconds(0)) >> [] {});
    return s;
  }

  ticker_broadcaster_actor broadcaster(const std::string& ticker) {
    self->send(directory, get_atom::value, ticker, publisher{});
    run();
    return caf::actor_cast<ticker_broadcaster_actor>(fetch<publisher>());
  }

  void publish(const std::string& ticker, double price, int64_t ts = 1) {
    // As the redis listener: a broadcaster takes ticks from it only.
    caf::send_as(listener, broadcaster(ticker), tick{price, 10, ts});
    run();
  }

  void ack(const session_actor& s, bool ok = true) {
    self->send(s, write_done_atom::value, ok);
    run();
  }

  /// The exit reason of `s` if it ended, otherwise none.
  caf::error down_reason(const session_actor& s) {
    caf::error result;
    bool got = false;
    while (!got && has_message()) {
      self->receive(
        [&](const caf::down_msg& dm) {
          if (dm.source == s.address()) {
            result = dm.reason;
            got = true;
          }
        },
        caf::after(std::chrono::seconds(0)) >> [] {});
    }
    return result;
  }

  std::shared_ptr<std::vector<std::string>> watched;
  redis_listener_actor listener;
  hub_directory_actor directory;
};

TEST_F(session_test, start_replies_once_every_ticker_is_subscribed) {
  auto s = spawn_session(sys, "id-7", {"AAPL", "MSFT"}, conflate_500(), nullptr,
                         directory, ncfg, m);
  cleanup.push_back(s);
  self->send(s, start_atom::value);
  run();
  bool got = false;
  self->receive(
    [&](const std::string& id, const std::vector<std::string>& tickers) {
      got = true;
      EXPECT_EQ(id, "id-7");
      EXPECT_EQ(tickers, (std::vector<std::string>{"AAPL", "MSFT"}));
    },
    caf::after(std::chrono::seconds(0)) >> [] {});
  EXPECT_TRUE(got);
  EXPECT_EQ(*watched, (std::vector<std::string>{"AAPL", "MSFT"}));
  self->send(broadcaster("AAPL"), stats_atom::value);
  run();
  self->receive([](uint64_t subs, uint64_t) { EXPECT_EQ(subs, 1u); },
                caf::after(std::chrono::seconds(0)) >> [] { FAIL(); });
}

TEST_F(session_test, adaptive_flush_writes_at_once_then_conflates_in_flight) {
  auto sink = std::make_shared<fake_sink>();
  auto s = start({"AAPL"}, {}, sink);
  publish("AAPL", 1.0, 100);
  ASSERT_EQ(sink->writes.size(), 1u);
  EXPECT_EQ(sink->writes[0].batch_seq, 1u);
  EXPECT_FALSE(sink->writes[0].snapshot);
  ASSERT_EQ(sink->writes[0].updates.size(), 1u);
  EXPECT_EQ(sink->writes[0].updates[0].seq, 1u);
  EXPECT_EQ(sink->writes[0].updates[0].ts, 100);
  // One write in flight: the next three wait and conflate.
  publish("AAPL", 2.0);
  publish("AAPL", 3.0);
  publish("AAPL", 4.0);
  EXPECT_EQ(sink->writes.size(), 1u);
  ack(s);
  ASSERT_EQ(sink->writes.size(), 2u);
  auto& b = sink->writes[1];
  EXPECT_EQ(b.batch_seq, 2u);
  ASSERT_EQ(b.updates.size(), 1u);
  EXPECT_DOUBLE_EQ(b.updates[0].price, 4.0);
  EXPECT_EQ(b.updates[0].seq, 4u);
  EXPECT_EQ(b.updates[0].conflated, 2u);
  EXPECT_EQ(m.updates_conflated_total.load(), 2u);
  EXPECT_EQ(m.updates_delivered_total.load(), 2u);
  EXPECT_EQ(m.batches_sent_total.load(), 2u);
  ack(s);
  EXPECT_EQ(sink->writes.size(), 2u) << "wrote with nothing pending";
}

TEST_F(session_test, conflation_keeps_newest_per_ticker_in_arrival_order) {
  auto sink = std::make_shared<fake_sink>();
  auto s = start({"AAPL", "MSFT", "GOOG"}, {}, sink);
  publish("GOOG", 1.0); // goes out at once
  publish("MSFT", 10.0);
  publish("AAPL", 20.0);
  publish("MSFT", 11.0);
  publish("MSFT", 12.0);
  publish("AAPL", 21.0);
  ack(s);
  ASSERT_EQ(sink->writes.size(), 2u);
  auto& u = sink->writes[1].updates;
  ASSERT_EQ(u.size(), 2u);
  EXPECT_EQ(u[0].ticker, "MSFT");
  EXPECT_DOUBLE_EQ(u[0].price, 12.0);
  EXPECT_EQ(u[0].conflated, 2u);
  EXPECT_EQ(u[0].seq, 3u);
  EXPECT_EQ(u[1].ticker, "AAPL");
  EXPECT_DOUBLE_EQ(u[1].price, 21.0);
  EXPECT_EQ(u[1].conflated, 1u);
}

TEST_F(session_test, all_mode_delivers_every_tick_in_order) {
  auto sink = std::make_shared<fake_sink>();
  session_options opts;
  opts.mode = delivery_mode::all;
  auto s = start({"AAPL"}, opts, sink);
  for (int i = 1; i <= 11; ++i)
    publish("AAPL", i); // the first goes out at once, 10 wait
  ack(s);
  ASSERT_EQ(sink->writes.size(), 2u);
  auto& u = sink->writes[1].updates;
  ASSERT_EQ(u.size(), 10u);
  for (size_t i = 0; i < u.size(); ++i) {
    EXPECT_EQ(u[i].seq, i + 2);
    EXPECT_EQ(u[i].conflated, 0u);
  }
  EXPECT_FALSE(down_reason(s));
}

TEST_F(session_test, all_mode_stays_within_its_bound_and_evicts) {
  auto sink = std::make_shared<fake_sink>();
  session_options opts;
  opts.mode = delivery_mode::all;
  auto s = start({"AAPL"}, opts, sink);
  publish("AAPL", 1.0); // in flight, never acknowledged: a stalled reader
  for (uint32_t i = 0; i < ncfg.max_pending; ++i)
    publish("AAPL", 2.0);
  EXPECT_FALSE(down_reason(s)) << "evicted at the bound, not above it";
  publish("AAPL", 3.0);
  auto reason = down_reason(s);
  EXPECT_EQ(code_of(reason), ec::slow_consumer);
  EXPECT_NE(text_of(reason).find("too slow"), std::string::npos);
  EXPECT_EQ(sink->finish_calls, 1);
  EXPECT_EQ(code_of(sink->finished), ec::slow_consumer);
  self->send(broadcaster("AAPL"), stats_atom::value);
  run();
  self->receive([](uint64_t subs, uint64_t) { EXPECT_EQ(subs, 0u); },
                caf::after(std::chrono::seconds(0)) >> [] { FAIL(); });
}

TEST_F(session_test, max_batch_splits_pending_updates) {
  auto sink = std::make_shared<fake_sink>();
  session_options opts;
  opts.max_batch = 2;
  auto s = start({"A", "B", "C", "D", "E"}, opts, sink);
  publish("A", 1.0);
  for (auto t : {"B", "C", "D", "E"})
    publish(t, 1.0);
  ack(s);
  ack(s);
  ack(s);
  ASSERT_EQ(sink->writes.size(), 3u);
  EXPECT_EQ(sink->writes[1].updates.size(), 2u);
  EXPECT_EQ(sink->writes[2].updates.size(), 2u);
  EXPECT_EQ(sink->writes[2].batch_seq, 3u);
}

TEST_F(session_test, fixed_interval_waits_for_the_timer) {
  auto sink = std::make_shared<fake_sink>();
  session_options opts;
  opts.flush_interval_ms = 100;
  auto s = start({"AAPL", "MSFT"}, opts, sink);
  publish("AAPL", 1.0);
  publish("MSFT", 1.0);
  publish("AAPL", 2.0);
  EXPECT_TRUE(sink->writes.empty());
  advance(99);
  EXPECT_TRUE(sink->writes.empty());
  advance(1);
  ASSERT_EQ(sink->writes.size(), 1u);
  EXPECT_EQ(sink->writes[0].updates.size(), 2u);
  ack(s);
  publish("MSFT", 2.0);
  EXPECT_EQ(sink->writes.size(), 1u);
  advance(100);
  EXPECT_EQ(sink->writes.size(), 2u);
}

TEST_F(session_test, snapshot_comes_first_with_last_known_prices) {
  auto keeper = spawn_session(sys, "keeper", {"AAPL", "MSFT"}, conflate_500(),
                              nullptr, directory, ncfg, m);
  cleanup.push_back(keeper);
  run();
  publish("AAPL", 189.25, 42);
  auto sink = std::make_shared<fake_sink>();
  session_options opts;
  opts.snapshot = true;
  auto s = start({"AAPL", "MSFT"}, opts, sink);
  ASSERT_EQ(sink->writes.size(), 1u);
  auto& b = sink->writes[0];
  EXPECT_TRUE(b.snapshot);
  EXPECT_EQ(b.batch_seq, 1u);
  ASSERT_EQ(b.updates.size(), 1u); // MSFT has no price yet: absent
  EXPECT_EQ(b.updates[0].ticker, "AAPL");
  EXPECT_EQ(b.updates[0].ts, 42);
  ack(s);
  publish("MSFT", 410.0);
  ASSERT_EQ(sink->writes.size(), 2u);
  EXPECT_FALSE(sink->writes[1].snapshot);
}

TEST_F(session_test, attach_timeout_ends_a_session_nobody_streams) {
  auto s = start({"AAPL"}, {});
  advance(ncfg.attach_timeout_ms - 1);
  EXPECT_FALSE(down_reason(s));
  advance(1);
  auto reason = down_reason(s);
  EXPECT_EQ(code_of(reason), ec::attach_timeout);
  EXPECT_NE(text_of(reason).find("no stream attached"), std::string::npos);
}

TEST_F(session_test, attached_session_ignores_attach_timeout) {
  auto s = start({"AAPL"}, {});
  auto sink = std::make_shared<fake_sink>();
  request_ok(s, attach_atom::value, stream_sink_ptr{sink});
  EXPECT_EQ(sink->bound.address(), s.address());
  advance(ncfg.attach_timeout_ms * 2);
  EXPECT_FALSE(down_reason(s));
}

TEST_F(session_test, second_stream_is_refused) {
  auto first = std::make_shared<fake_sink>();
  auto s = start({"AAPL"}, {}, first);
  self->send(s, attach_atom::value,
             stream_sink_ptr{std::make_shared<fake_sink>()});
  run();
  EXPECT_EQ(code_of(fetch_error()), ec::stream_already_attached);
  publish("AAPL", 1.0);
  EXPECT_EQ(first->writes.size(), 1u);
}

TEST_F(session_test, stop_finishes_the_stream_with_stopped) {
  auto sink = std::make_shared<fake_sink>();
  auto s = start({"AAPL"}, {}, sink);
  request_ok(s, stop_atom::value);
  EXPECT_EQ(code_of(down_reason(s)), ec::stopped);
  EXPECT_EQ(sink->finish_calls, 1);
  EXPECT_EQ(code_of(sink->finished), ec::stopped);
}

TEST_F(session_test, stream_end_ends_the_session_and_broadcaster_drops_it) {
  auto sink = std::make_shared<fake_sink>();
  auto s = start({"AAPL"}, {}, sink);
  auto b = broadcaster("AAPL");
  self->send(s, stream_end_atom::value);
  run();
  EXPECT_EQ(code_of(down_reason(s)), ec::stream_ended);
  self->send(b, stats_atom::value);
  run();
  self->receive([](uint64_t subs, uint64_t) { EXPECT_EQ(subs, 0u); },
                caf::after(std::chrono::seconds(0)) >> [] { FAIL(); });
}

TEST_F(session_test, a_stream_gone_before_attach_ends_the_session) {
  auto sink = std::make_shared<fake_sink>();
  sink->gone = true;
  auto s = start({"AAPL"}, {});
  self->send(s, attach_atom::value, stream_sink_ptr{sink});
  run();
  EXPECT_EQ(code_of(down_reason(s)), ec::stream_ended);
}

TEST_F(session_test, kill_ends_with_the_operators_reason) {
  auto sink = std::make_shared<fake_sink>();
  auto s = start({"AAPL"}, {}, sink);
  self->send(s, kill_atom::value, std::string{"maintenance"});
  run();
  EXPECT_EQ(code_of(sink->finished), ec::killed);
  EXPECT_EQ(text_of(sink->finished), "maintenance");
}

TEST_F(session_test, update_changes_what_arrives) {
  auto sink = std::make_shared<fake_sink>();
  auto s = start({"AAPL", "MSFT"}, {}, sink);
  self->send(s, update_atom::value, std::vector<std::string>{"GOOG"},
             std::vector<std::string>{"AAPL"});
  run();
  EXPECT_EQ(fetch<std::vector<std::string>>(),
            (std::vector<std::string>{"GOOG", "MSFT"}));
  publish("AAPL", 1.0);
  EXPECT_TRUE(sink->writes.empty()) << "removed ticker still delivered";
  publish("GOOG", 2.0);
  ASSERT_EQ(sink->writes.size(), 1u);
  EXPECT_EQ(sink->writes[0].updates.at(0).ticker, "GOOG");
}

TEST_F(session_test, update_beyond_the_ticker_limit_is_refused) {
  auto s = start({"A", "B", "C"}, {}, std::make_shared<fake_sink>());
  self->send(s, update_atom::value, std::vector<std::string>{"D", "E", "F"},
             std::vector<std::string>{});
  run();
  auto err = fetch_error();
  EXPECT_EQ(code_of(err), ec::too_many_tickers);
  EXPECT_NE(text_of(err).find("limit is 5"), std::string::npos);
  self->send(s, update_atom::value, std::vector<std::string>{},
             std::vector<std::string>{"A", "B", "C"});
  run();
  EXPECT_EQ(code_of(fetch_error()), ec::no_tickers);
}

TEST_F(session_test, removing_a_ticker_with_a_pending_update_keeps_delivery) {
  auto sink = std::make_shared<fake_sink>();
  auto s = start({"AAPL", "MSFT"}, {}, sink);
  publish("MSFT", 1.0); // in flight
  publish("AAPL", 2.0); // pending in the session's inbox
  self->send(s, update_atom::value, std::vector<std::string>{},
             std::vector<std::string>{"AAPL"});
  run();
  EXPECT_EQ(fetch<std::vector<std::string>>(),
            (std::vector<std::string>{"MSFT"}));
  ack(s);
  EXPECT_EQ(sink->writes.size(), 1u) << "the removed ticker's update left";
  publish("MSFT", 3.0);
  ASSERT_EQ(sink->writes.size(), 2u) << "the next tick did not wake us";
  ASSERT_EQ(sink->writes[1].updates.size(), 1u);
  EXPECT_EQ(sink->writes[1].updates[0].seq, 2u);
  EXPECT_EQ(sink->writes[1].updates[0].conflated, 0u);
}

TEST_F(session_test, conflates_updates_of_a_publisher_that_sends_each_one) {
  // A cluster relay takes the inbox variant of subscribe like the plain one
  // and sends a message per tick; the session conflates those itself, in
  // the same inbox.
  auto subscribed = std::make_shared<inbox_sink_actor>();
  auto relay =
    sys.spawn([subscribed](caf::event_based_actor*) -> caf::behavior {
      return {
        [subscribed](subscribe_atom, const inbox_sink_actor& who,
                     const session_inbox_ptr&, uint32_t) {
          *subscribed = who;
          return std::vector<price_update>{};
        },
        [](unsubscribe_atom, const subscriber&) {},
      };
    });
  // `relay` stands in for a relay: it answers subscribe and unsubscribe
  // only.
  auto dir = sys.spawn([relay](caf::event_based_actor*) -> caf::behavior {
    return {
      [relay](get_atom, const std::string&, const publisher&) {
        return caf::actor_cast<publisher>(relay);
      },
    };
  });
  cleanup.push_back(relay);
  cleanup.push_back(dir);
  auto sink = std::make_shared<fake_sink>();
  session_options opts;
  opts.max_batch = ncfg.max_batch;
  // `dir` stands in for a directory: it answers get only.
  auto s = spawn_session(sys, "id-r", {"AAPL"}, opts, sink,
                         caf::actor_cast<ticker_directory_actor>(dir), ncfg, m);
  cleanup.push_back(s);
  run();
  ASSERT_EQ(subscribed->address(), s.address())
    << "the inbox variant of subscribe was not used";
  auto send_update = [&](uint64_t seq) {
    price_update u;
    u.ticker = "AAPL";
    u.seq = seq;
    u.price = static_cast<double>(seq);
    caf::anon_send(s, u);
    run();
  };
  send_update(1);
  ASSERT_EQ(sink->writes.size(), 1u);
  for (uint64_t seq = 2; seq <= 5; ++seq)
    send_update(seq);
  ack(s);
  ASSERT_EQ(sink->writes.size(), 2u);
  ASSERT_EQ(sink->writes[1].updates.size(), 1u);
  EXPECT_EQ(sink->writes[1].updates[0].seq, 5u);
  EXPECT_EQ(sink->writes[1].updates[0].conflated, 3u);
}

/// A sink that accepts the inbox (stream_sink::pump) and records it; the
/// test drains the inbox itself, as the gRPC bridge would.
class pumping_sink : public fake_sink {
public:
  bool pump(std::shared_ptr<session_inbox> in, size_t max_batch,
            uint64_t batch_seq, uint32_t flush_interval_ms) override {
    inbox = std::move(in);
    pump_interval_ms = flush_interval_ms;
    pump_max_batch = max_batch;
    pump_batch_seq = batch_seq;
    return true;
  }
  pump_stats pumped() const override {
    pump_stats x;
    x.delivered = 7;
    x.batch_seq = pump_batch_seq + 3;
    x.write_in_flight = true;
    return x;
  }
  std::shared_ptr<session_inbox> inbox;
  size_t pump_max_batch = 0;
  uint64_t pump_batch_seq = 0;
  uint32_t pump_interval_ms = 0;
};

TEST_F(session_test, after_the_snapshot_the_sink_pumps_the_inbox_itself) {
  auto keeper = spawn_session(sys, "keeper", {"AAPL"}, conflate_500(), nullptr,
                              directory, ncfg, m);
  cleanup.push_back(keeper);
  run();
  publish("AAPL", 189.25, 42);
  auto sink = std::make_shared<pumping_sink>();
  session_options opts;
  opts.snapshot = true;
  auto s = start({"AAPL", "MSFT"}, opts, sink);
  ASSERT_EQ(sink->writes.size(), 1u) << "the snapshot, written by the session";
  EXPECT_EQ(sink->inbox, nullptr) << "no pump while the snapshot is in flight";
  ack(s);
  ASSERT_NE(sink->inbox, nullptr) << "handed over once the snapshot is done";
  EXPECT_EQ(sink->pump_max_batch, 500u);
  EXPECT_EQ(sink->pump_batch_seq, 1u) << "numbering continues after it";
  publish("MSFT", 410.0);
  publish("AAPL", 190.0);
  EXPECT_EQ(sink->writes.size(), 1u) << "the session writes nothing more";
  EXPECT_EQ(sink->inbox->size(), 2u) << "the updates wait in the inbox";
  self->send(s, describe_atom::value);
  run();
  auto info = fetch<session_info>();
  EXPECT_EQ(info.delivered, 1u + 7u) << "its own writes plus the sink's";
  EXPECT_EQ(info.batches, 4u);
  EXPECT_TRUE(info.write_in_flight);
  EXPECT_EQ(info.pending, 2u);
  ack(s, false);
  EXPECT_EQ(code_of(down_reason(s)), ec::stream_ended)
    << "a failed write of the sink still ends the session";
}

TEST_F(session_test, a_fixed_interval_session_pumps_after_its_first_flush) {
  // The first flush is the session's own timer; from then on the sink
  // keeps the interval (the gRPC bridge on the node's flush clock).
  auto conflate = std::make_shared<pumping_sink>();
  session_options fixed;
  fixed.flush_interval_ms = 50;
  start({"AAPL"}, fixed, conflate);
  publish("AAPL", 1.0);
  advance(49);
  EXPECT_EQ(conflate->inbox, nullptr) << "not before the interval";
  advance(1);
  ASSERT_NE(conflate->inbox, nullptr);
  EXPECT_EQ(conflate->pump_interval_ms, 50u);
  EXPECT_EQ(conflate->inbox->size(), 1u) << "pending, for the sink to write";
  EXPECT_TRUE(conflate->writes.empty()) << "the session writes nothing";
}

TEST_F(session_test, all_mode_sessions_do_not_pump) {
  auto all = std::make_shared<pumping_sink>();
  session_options all_mode;
  all_mode.mode = delivery_mode::all;
  all_mode.flush_interval_ms = 50;
  start({"AAPL"}, all_mode, all);
  publish("AAPL", 1.0);
  advance(50);
  EXPECT_EQ(all->inbox, nullptr);
  EXPECT_EQ(all->writes.size(), 1u);
}

} // namespace

namespace {

TEST_F(session_test, max_frequency_holds_back_per_ticker_newest_value_wins) {
  auto sink = std::make_shared<fake_sink>();
  session_options opts;
  opts.max_frequency_hz = 10; // one update per 100 ms and ticker
  auto s = start({"AAPL", "MSFT"}, opts, sink);
  publish("AAPL", 1.0);
  ASSERT_EQ(sink->writes.size(), 1u);
  ack(s);
  publish("AAPL", 2.0);
  publish("AAPL", 3.0);
  publish("MSFT", 10.0);
  // MSFT may send: it goes at once; AAPL waits for its 100 ms.
  ASSERT_EQ(sink->writes.size(), 2u);
  ASSERT_EQ(sink->writes[1].updates.size(), 1u);
  EXPECT_EQ(sink->writes[1].updates[0].ticker, "MSFT");
  ack(s);
  advance(99);
  EXPECT_EQ(sink->writes.size(), 2u) << "AAPL went before its 100 ms";
  advance(1);
  ASSERT_EQ(sink->writes.size(), 3u);
  ASSERT_EQ(sink->writes[2].updates.size(), 1u);
  auto& u = sink->writes[2].updates[0];
  EXPECT_EQ(u.ticker, "AAPL");
  EXPECT_DOUBLE_EQ(u.price, 3.0);
  EXPECT_EQ(u.conflated, 1u);
  ack(s);
  // A tick every millisecond for 2 s: AAPL goes 10 times a second.
  size_t before = sink->writes.size();
  uint64_t published = 0;
  for (int i = 0; i < 2000; ++i) {
    publish("AAPL", 100.0 + i);
    ++published;
    advance(1);
    if (sink->writes.size() > before) {
      before = sink->writes.size();
      ack(s);
    }
  }
  uint64_t delivered = 0;
  uint64_t conflated = 0;
  for (size_t i = 3; i < sink->writes.size(); ++i)
    for (auto& x : sink->writes[i].updates) {
      EXPECT_EQ(x.ticker, "AAPL");
      ++delivered;
      conflated += x.conflated;
    }
  EXPECT_GE(delivered, 19u);
  EXPECT_LE(delivered, 21u);
  // Every tick is either delivered or counted as conflated (one may wait).
  EXPECT_GE(delivered + conflated + 1, published);
  EXPECT_LE(delivered + conflated, published);
}

TEST(session_options, max_frequency_needs_conflate) {
  node_config cfg;
  session_options opts;
  opts.max_frequency_hz = 5;
  auto err = resolve_options(opts, 0, cfg);
  EXPECT_FALSE(err) << text_of(err);
  err = resolve_options(opts, 1, cfg);
  EXPECT_EQ(code_of(err), ec::bad_option);
  auto what = text_of(err);
  EXPECT_NE(what.find("max_frequency_hz"), std::string::npos) << what;
  EXPECT_NE(what.find("DELIVERY_MODE_ALL"), std::string::npos) << what;
}

} // namespace

namespace {

TEST_F(session_test, resume_replays_before_live_and_reports_recovery) {
  // A session that keeps the broadcasters busy, and five ticks of AAPL.
  auto keeper = start({"AAPL", "MSFT"}, {}, std::make_shared<fake_sink>());
  for (int i = 1; i <= 5; ++i)
    publish("AAPL", i);
  publish("MSFT", 50.0);
  self->send(broadcaster("AAPL"), last_atom::value);
  run();
  auto epoch = fetch<std::vector<price_update>>().front().epoch;
  auto sink = std::make_shared<fake_sink>();
  session_options opts;
  opts.mode = delivery_mode::all;
  opts.snapshot = true;
  opts.max_batch = 2;
  opts.resume_from = {{"AAPL", epoch, 2}, {"MSFT", epoch, 1}};
  auto s = start({"AAPL", "MSFT"}, opts, sink);
  publish("AAPL", 6.0);
  // First batch: the recovery results, MSFT's snapshot (its position was of
  // another epoch), then the replay of AAPL 3, 4, 5, then live 6.
  ASSERT_EQ(sink->writes.size(), 1u);
  auto& first = sink->writes[0];
  ASSERT_EQ(first.recovery.size(), 2u);
  EXPECT_EQ(first.recovery[0].ticker, "AAPL");
  EXPECT_TRUE(first.recovery[0].recovered);
  EXPECT_EQ(first.recovery[0].replayed, 3u);
  EXPECT_EQ(first.recovery[1].ticker, "MSFT");
  EXPECT_FALSE(first.recovery[1].recovered);
  std::vector<std::pair<std::string, uint64_t>> got;
  for (size_t k = 0; k < sink->writes.size(); ++k) {
    for (auto& u : sink->writes[k].updates)
      got.emplace_back(u.ticker, u.seq);
    if (k > 0) {
      EXPECT_TRUE(sink->writes[k].recovery.empty());
    }
    ack(s);
  }
  EXPECT_EQ(
    got, (std::vector<std::pair<std::string, uint64_t>>{
           {"MSFT", 1}, {"AAPL", 3}, {"AAPL", 4}, {"AAPL", 5}, {"AAPL", 6}}));
  EXPECT_TRUE(sink->writes[0].snapshot);
  static_cast<void>(keeper);
}

TEST_F(session_test, resume_in_conflate_mode_sends_each_missed_update) {
  auto keeper = start({"AAPL"}, {}, std::make_shared<fake_sink>());
  for (int i = 1; i <= 4; ++i)
    publish("AAPL", i);
  self->send(broadcaster("AAPL"), last_atom::value);
  run();
  auto epoch = fetch<std::vector<price_update>>().front().epoch;
  auto sink = std::make_shared<fake_sink>();
  session_options opts;
  opts.resume_from = {{"AAPL", epoch, 1}};
  auto s = start({"AAPL"}, opts, sink);
  publish("AAPL", 5.0);
  publish("AAPL", 6.0);
  ASSERT_EQ(sink->writes.size(), 1u);
  ASSERT_EQ(sink->writes[0].recovery.size(), 1u);
  EXPECT_EQ(sink->writes[0].recovery[0].replayed, 3u);
  std::vector<uint64_t> seqs;
  for (auto& u : sink->writes[0].updates)
    seqs.push_back(u.seq);
  EXPECT_EQ(seqs, (std::vector<uint64_t>{2, 3, 4}));
  EXPECT_FALSE(sink->writes[0].snapshot);
  ack(s);
  // Live updates waited in the inbox and conflated there.
  ASSERT_EQ(sink->writes.size(), 2u);
  ASSERT_EQ(sink->writes[1].updates.size(), 1u);
  EXPECT_EQ(sink->writes[1].updates[0].seq, 6u);
  EXPECT_EQ(sink->writes[1].updates[0].conflated, 1u);
  static_cast<void>(keeper);
}

} // namespace
