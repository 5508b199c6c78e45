// service/stream_bridge: the bridge between a session (CAF's threads) and
// its gRPC server stream, against a recording fake of the call
// (`stream_ops`) and a driven flush clock that the test runs. The session is
// a stand-in actor on CAF's test_coordinator that records what the bridge
// tells it. The flush clock keeps real time (due times round up to the next
// millisecond): `run_clock` waits for its next due time, a few milliseconds
// at most, before making what is due.

#include "service/stream_bridge.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <caf/make_message.hpp>

#include "actor_fixture.hpp"
#include "service/status.hpp"

using namespace mm;
using namespace mm::test;
using namespace std::chrono_literals;
using grpc::StatusCode;

namespace {

using sys_time = std::chrono::system_clock::time_point;

/// Records what the bridge does to its call; the test plays gRPC's part by
/// calling the bridge's `on_*` events.
class fake_call : public stream_ops {
public:
  void write(const marketmonitor::v1::PriceBatch& batch) override {
    writes.push_back(batch);
  }
  void finish(const grpc::Status& status) override {
    finishes.push_back(status);
  }
  void arm_cut(sys_time) override {
    ++cuts_armed;
  }
  void cancel_cut() override {
    ++cuts_cancelled;
  }
  void arm_expiry(sys_time deadline) override {
    ++expiries_armed;
    expiry = deadline;
  }
  void cancel_expiry() override {
    ++expiries_cancelled;
  }
  void cancel() override {
    ++cancels;
  }
  sys_time deadline() const override {
    return call_deadline;
  }

  std::vector<marketmonitor::v1::PriceBatch> writes;
  std::vector<grpc::Status> finishes;
  int cuts_armed = 0;
  int cuts_cancelled = 0;
  int expiries_armed = 0;
  int expiries_cancelled = 0;
  int cancels = 0;
  sys_time expiry;
  sys_time call_deadline = sys_time::max();
};

/// What the session stand-in heard.
struct heard {
  std::vector<bool> write_done;
  int stream_end = 0;
};

caf::message update(const std::string& ticker, uint64_t seq, bool gap = false) {
  price_update u;
  u.ticker = ticker;
  u.seq = seq;
  u.price = static_cast<double>(seq);
  u.gap = gap;
  return caf::make_message(std::move(u));
}

class stream_bridge_test : public actor_fixture {
public:
  stream_bridge_test() {
    cfg_.sys = &sys;
    cfg_.clock = &clock;
    cfg_.clock_shard = 0;
    cfg_.finish_grace = 1000ms;
    cfg_.stats = &m;
  }

  /// Makes the bridge; `write_stall` 0: no stall checks.
  void make(std::chrono::milliseconds write_stall = 0ms) {
    cfg_.write_stall = write_stall;
    bridge = std::make_shared<stream_bridge>(&call, cfg_);
    bridge->started("ipv4:127.0.0.1:1");
  }

  /// Spawns the session stand-in, binds the bridge to it and monitors it.
  void bind() {
    auto rec = said;
    session = sys.spawn(
      [rec](stream_owner_actor::pointer) -> stream_owner_actor::behavior_type {
        return {
          [rec](write_done_atom, bool ok) { rec->write_done.push_back(ok); },
          [rec](stream_end_atom) { ++rec->stream_end; },
        };
      });
    cleanup.push_back(session);
    self->monitor(session);
    ASSERT_TRUE(bridge->bind(session));
  }

  /// Hands the bridge the inbox, numbering its batches after `batch_seq`.
  void pump(size_t max_batch, uint64_t batch_seq, uint32_t interval_ms = 0) {
    ASSERT_TRUE(bridge->pump(inbox, max_batch, batch_seq, interval_ms));
  }

  /// Puts an update of `ticker` (slot opened on first use) into the inbox,
  /// as a broadcaster does: the put kicks the bridge.
  void put(const std::string& ticker, uint64_t seq, bool gap = false) {
    auto i = slots.find(ticker);
    auto n = i != slots.end() ? i->second
                              : (slots[ticker] = inbox->open(ticker));
    inbox->put(n, update(ticker, seq, gap), std::chrono::steady_clock::now());
  }

  /// Waits for the clock's earliest timer (if it is due within a second)
  /// and makes everything due by then.
  void run_clock() {
    auto due = clock.next_due(0);
    ASSERT_LT(due, flush_clock::clock::now() + 1s) << "nothing due soon";
    std::this_thread::sleep_until(due);
    clock.run_due(0);
  }

  /// A bound bridge pumping an adaptive inbox, with one write in flight
  /// (A/1, batch 1).
  void pumping_with_a_write(std::chrono::milliseconds write_stall = 0ms) {
    make(write_stall);
    bind();
    pump(10, 0);
    put("A", 1);
    run_clock();
    ASSERT_EQ(call.writes.size(), 1u);
  }

  /// Takes the exit reason of the session stand-in if it has ended.
  caf::error session_exit() {
    caf::error result;
    self->receive(
      [&](const caf::down_msg& dm) {
        EXPECT_EQ(dm.source, session.address());
        result = dm.reason;
      },
      caf::after(std::chrono::seconds(0)) >> [] {});
    return result;
  }

  /// The updates of write `i` as (ticker, seq, conflated, gap).
  std::string updates_of(size_t i) {
    std::string result;
    for (const auto& x : call.writes.at(i).updates()) {
      if (!result.empty())
        result += ' ';
      result += x.ticker() + '/' + std::to_string(x.seq()) + '/'
                + std::to_string(x.conflated()) + (x.gap() ? "/gap" : "");
    }
    return result;
  }

  flush_clock clock{1, flush_clock::driven};
  fake_call call;
  std::shared_ptr<stream_bridge> bridge;
  session_inbox_ptr inbox = std::make_shared<session_inbox>();
  std::map<std::string, uint32_t> slots;
  std::shared_ptr<heard> said = std::make_shared<heard>();
  stream_owner_actor session;

private:
  stream_bridge::settings cfg_{};
};

// --- writes of the session ---------------------------------------------------

TEST_F(stream_bridge_test, writes_the_sessions_batch_and_reports_completion) {
  make();
  bind();
  price_batch b;
  b.batch_seq = 5;
  b.snapshot = true;
  price_update u;
  u.ticker = "AAPL";
  u.seq = 3;
  u.price = 1.5;
  u.volume = 7;
  u.ts = 11;
  u.conflated = 2;
  u.epoch = 9;
  u.gap = true;
  b.updates.push_back(u);
  b.recovery.push_back(recovery_result{"AAPL", true, 4});
  bridge->write(b);
  ASSERT_EQ(call.writes.size(), 1u);
  const auto& out = call.writes[0];
  EXPECT_EQ(out.batch_seq(), 5u);
  EXPECT_TRUE(out.snapshot());
  ASSERT_EQ(out.updates_size(), 1);
  EXPECT_EQ(out.updates(0).ticker(), "AAPL");
  EXPECT_EQ(out.updates(0).seq(), 3u);
  EXPECT_EQ(out.updates(0).price(), 1.5);
  EXPECT_EQ(out.updates(0).volume(), 7);
  EXPECT_EQ(out.updates(0).ts_unix_nanos(), 11);
  EXPECT_EQ(out.updates(0).conflated(), 2u);
  EXPECT_EQ(out.updates(0).epoch(), 9u);
  EXPECT_TRUE(out.updates(0).gap());
  ASSERT_EQ(out.recovery_size(), 1);
  EXPECT_TRUE(out.recovery(0).recovered());
  EXPECT_EQ(out.recovery(0).replayed(), 4u);
  bridge->write(b);
  EXPECT_EQ(call.writes.size(), 1u) << "one write in flight at a time";
  EXPECT_FALSE(bridge->on_write_done(true));
  run();
  EXPECT_EQ(said->write_done, std::vector<bool>{true});
  bridge->write(b);
  ASSERT_EQ(call.writes.size(), 2u);
  EXPECT_FALSE(bridge->on_write_done(false));
  run();
  EXPECT_EQ(said->write_done, (std::vector<bool>{true, false}));
}

// --- pumping: batching -------------------------------------------------------

TEST_F(stream_bridge_test, pumped_batches_carry_conflated_counts_and_gaps) {
  make();
  bind();
  put("A", 1);
  put("A", 2, true);
  put("A", 3);
  put("B", 1);
  put("C", 1);
  pump(2, 7);
  // What was pending goes at once, at most max_batch per batch.
  ASSERT_EQ(call.writes.size(), 1u);
  EXPECT_EQ(call.writes[0].batch_seq(), 8u);
  EXPECT_EQ(updates_of(0), "A/3/2/gap B/1/0");
  // Adaptive: the completion takes the rest at once.
  EXPECT_FALSE(bridge->on_write_done(true));
  ASSERT_EQ(call.writes.size(), 2u);
  EXPECT_EQ(call.writes[1].batch_seq(), 9u);
  EXPECT_EQ(updates_of(1), "C/1/0");
  EXPECT_FALSE(bridge->on_write_done(true));
  EXPECT_EQ(call.writes.size(), 2u) << "nothing pending: no write";
  EXPECT_EQ(clock.pending(), 0u);
  // The next put kicks the bridge; the clock makes the write.
  put("B", 2);
  put("B", 3);
  EXPECT_EQ(call.writes.size(), 2u) << "the put does not write itself";
  EXPECT_EQ(clock.pending(), 1u);
  run_clock();
  ASSERT_EQ(call.writes.size(), 3u);
  EXPECT_EQ(call.writes[2].batch_seq(), 10u) << "batch_seq has no hole";
  EXPECT_EQ(updates_of(2), "B/3/1");
  EXPECT_FALSE(bridge->on_write_done(true));
  auto st = bridge->pumped();
  EXPECT_EQ(st.batch_seq, 10u);
  EXPECT_EQ(st.delivered, 4u);
  EXPECT_EQ(st.conflated, 3u);
  EXPECT_FALSE(st.write_in_flight);
  EXPECT_EQ(m.batches_sent_total.load(), 3u);
  EXPECT_EQ(m.updates_delivered_total.load(), 4u);
  EXPECT_EQ(m.updates_conflated_total.load(), 3u);
  run();
  EXPECT_TRUE(said->write_done.empty()) << "successes stay in the bridge";
  EXPECT_TRUE(call.finishes.empty());
}

TEST_F(stream_bridge_test, pump_refuses_a_second_inbox_and_a_write_in_flight) {
  make();
  bind();
  bridge->write(price_batch{});
  EXPECT_FALSE(bridge->pump(inbox, 10, 1, 0)) << "a write is in flight";
  EXPECT_FALSE(bridge->on_write_done(true));
  pump(10, 1);
  EXPECT_FALSE(bridge->pump(std::make_shared<session_inbox>(), 10, 1, 0));
}

TEST_F(stream_bridge_test,
       adaptive_puts_during_a_write_go_with_its_completion) {
  ASSERT_NO_FATAL_FAILURE(pumping_with_a_write());
  put("A", 2);
  put("A", 3);
  put("B", 1);
  EXPECT_EQ(clock.pending(), 0u) << "the write in flight takes them";
  EXPECT_FALSE(bridge->on_write_done(true));
  ASSERT_EQ(call.writes.size(), 2u);
  EXPECT_EQ(call.writes[1].batch_seq(), 2u);
  EXPECT_EQ(updates_of(1), "A/3/1 B/1/0");
}

TEST_F(stream_bridge_test, fixed_interval_writes_when_the_interval_is_up) {
  make();
  bind();
  pump(10, 0, 100);
  auto before = flush_clock::clock::now();
  put("A", 1);
  put("A", 2);
  ASSERT_EQ(clock.pending(), 1u) << "one flush for both puts";
  EXPECT_GE(clock.next_due(0), before + 100ms);
  clock.run_due(0);
  EXPECT_TRUE(call.writes.empty()) << "not before the interval is up";
  run_clock();
  ASSERT_EQ(call.writes.size(), 1u);
  EXPECT_EQ(updates_of(0), "A/2/1");
  // A put during the write schedules the next flush; if it comes due while
  // the write is in flight, the completion makes it at once.
  put("A", 3);
  ASSERT_EQ(clock.pending(), 1u);
  run_clock();
  EXPECT_EQ(call.writes.size(), 1u) << "due during the write: waits for it";
  EXPECT_FALSE(bridge->on_write_done(true));
  ASSERT_EQ(call.writes.size(), 2u);
  EXPECT_EQ(updates_of(1), "A/3/0");
  EXPECT_EQ(call.writes[1].batch_seq(), 2u);
  // A completion before the interval is up leaves the rest to the clock.
  put("A", 4);
  EXPECT_FALSE(bridge->on_write_done(true));
  EXPECT_EQ(call.writes.size(), 2u) << "the interval is not up yet";
  run_clock();
  ASSERT_EQ(call.writes.size(), 3u);
  EXPECT_EQ(updates_of(2), "A/4/0");
  EXPECT_EQ(call.writes[2].batch_seq(), 3u);
}

TEST_F(stream_bridge_test, a_failed_pumped_write_reaches_the_session) {
  ASSERT_NO_FATAL_FAILURE(pumping_with_a_write());
  put("A", 2);
  EXPECT_FALSE(bridge->on_write_done(false));
  EXPECT_EQ(call.writes.size(), 1u) << "no write after a failed one";
  run();
  EXPECT_EQ(said->write_done, std::vector<bool>{false});
}

// --- write stall -------------------------------------------------------------

TEST_F(stream_bridge_test, a_stalled_write_ends_the_session_as_not_reading) {
  ASSERT_NO_FATAL_FAILURE(pumping_with_a_write(5ms));
  ASSERT_EQ(clock.pending(), 1u) << "the stall check";
  run_clock();
  run();
  auto reason = session_exit();
  ASSERT_EQ(code_of(reason), ec::client_not_reading) << sys.render(reason);
  EXPECT_NE(text_of(reason).find("within 5 ms"), std::string::npos)
    << text_of(reason);
  EXPECT_TRUE(call.finishes.empty()) << "the session's exit finishes";
  // The session's exit: the write is still in flight, the cut waits for it.
  bridge->finish(reason);
  EXPECT_TRUE(call.finishes.empty());
  EXPECT_EQ(call.cuts_armed, 1);
  EXPECT_FALSE(bridge->on_cut(true));
  EXPECT_EQ(call.cancels, 1) << "the client did not take the write: cut";
  EXPECT_FALSE(bridge->on_write_done(false));
  ASSERT_EQ(call.finishes.size(), 1u);
  EXPECT_EQ(call.finishes[0].error_code(), StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(call.finishes[0].error_message(), text_of(reason));
  EXPECT_FALSE(bridge->on_finish_done());
  EXPECT_TRUE(bridge->on_done(true));
  EXPECT_EQ(call.finishes.size(), 1u);
}

TEST_F(stream_bridge_test, a_write_completed_in_time_does_not_stall) {
  ASSERT_NO_FATAL_FAILURE(pumping_with_a_write(5ms));
  EXPECT_FALSE(bridge->on_write_done(true));
  ASSERT_EQ(clock.pending(), 1u);
  run_clock();
  run();
  EXPECT_FALSE(session_exit()) << "the session lives";
  EXPECT_EQ(clock.pending(), 0u) << "no write in flight: no further check";
  // The next write schedules the check again.
  put("A", 2);
  run_clock();
  ASSERT_EQ(call.writes.size(), 2u);
  EXPECT_EQ(clock.pending(), 1u);
}

TEST_F(stream_bridge_test, a_stall_without_a_session_finishes_the_stream) {
  make(5ms);
  bridge->write(price_batch{});
  ASSERT_EQ(call.writes.size(), 1u);
  run_clock();
  EXPECT_EQ(call.cuts_armed, 1) << "finishing after the write in flight";
  EXPECT_FALSE(bridge->on_write_done(true));
  ASSERT_EQ(call.finishes.size(), 1u);
  EXPECT_EQ(call.finishes[0].error_code(), StatusCode::RESOURCE_EXHAUSTED);
}

// --- token expiry ------------------------------------------------------------

TEST_F(stream_bridge_test, token_expiry_ends_the_session_with_unauthenticated) {
  make();
  bind();
  auto at = std::chrono::system_clock::now() + 1h;
  bridge->expire_at(at);
  bridge->expire_at(at + 1h);
  EXPECT_EQ(call.expiries_armed, 1);
  EXPECT_EQ(call.expiry, at);
  EXPECT_FALSE(bridge->on_expiry(true));
  run();
  auto reason = session_exit();
  ASSERT_EQ(code_of(reason), ec::token_expired) << sys.render(reason);
  // The session's exit finishes the stream.
  EXPECT_TRUE(call.finishes.empty());
  bridge->finish(reason);
  ASSERT_EQ(call.finishes.size(), 1u);
  EXPECT_EQ(call.finishes[0].error_code(), StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(call.finishes[0].error_message(), "token expired");
}

TEST_F(stream_bridge_test, token_expiry_without_a_session_finishes_itself) {
  make();
  bridge->expire_at(std::chrono::system_clock::now() + 1h);
  EXPECT_FALSE(bridge->on_expiry(true));
  ASSERT_EQ(call.finishes.size(), 1u);
  EXPECT_EQ(call.finishes[0].error_code(), StatusCode::UNAUTHENTICATED);
  EXPECT_FALSE(bridge->on_finish_done());
  EXPECT_TRUE(bridge->on_done(false));
}

TEST_F(stream_bridge_test, a_cancelled_expiry_alarm_ends_nothing) {
  make();
  bind();
  bridge->expire_at(std::chrono::system_clock::now() + 1h);
  EXPECT_FALSE(bridge->on_expiry(false));
  run();
  EXPECT_FALSE(session_exit());
  EXPECT_TRUE(call.finishes.empty());
}

// --- finish paths: exactly one end per stream
// ---------------------------------

TEST_F(stream_bridge_test, finish_without_a_write_ends_the_call_once) {
  make();
  bind();
  bridge->finish(caf::make_error(ec::stopped));
  ASSERT_EQ(call.finishes.size(), 1u);
  EXPECT_TRUE(call.finishes[0].ok());
  bridge->finish(caf::make_error(ec::killed));
  bridge->finish(grpc::Status{StatusCode::INTERNAL, "late"});
  EXPECT_EQ(call.finishes.size(), 1u) << "the first finish wins";
  EXPECT_FALSE(bridge->bind(session)) << "a finishing stream binds nobody";
  bridge->write(price_batch{});
  EXPECT_TRUE(call.writes.empty()) << "no write after the finish";
  EXPECT_FALSE(bridge->on_finish_done()) << "gRPC is not done yet";
  EXPECT_TRUE(bridge->on_done(false)) << "now the call is released";
  run();
  EXPECT_EQ(said->stream_end, 0) << "the session asked for this end";
}

TEST_F(stream_bridge_test, finish_during_a_write_waits_for_its_completion) {
  make();
  bind();
  bridge->write(price_batch{});
  bridge->finish(caf::make_error(ec::killed, "maintenance"));
  EXPECT_TRUE(call.finishes.empty());
  EXPECT_EQ(call.cuts_armed, 1);
  EXPECT_FALSE(bridge->on_write_done(true));
  EXPECT_EQ(call.cuts_cancelled, 1);
  ASSERT_EQ(call.finishes.size(), 1u);
  EXPECT_EQ(call.finishes[0].error_code(), StatusCode::ABORTED);
  EXPECT_EQ(call.finishes[0].error_message(), "maintenance");
  EXPECT_FALSE(bridge->on_cut(false)) << "the cancelled cut came back";
  EXPECT_EQ(call.cancels, 0);
  EXPECT_FALSE(bridge->on_finish_done());
  EXPECT_TRUE(bridge->on_done(false));
  run();
  EXPECT_TRUE(said->write_done.empty()) << "a finishing session hears none";
}

TEST_F(stream_bridge_test, the_call_is_released_after_its_last_operation) {
  make();
  bind();
  bridge->expire_at(std::chrono::system_clock::now() + 1h);
  bridge->write(price_batch{});
  bridge->finish(caf::make_error(ec::stopped));
  // gRPC is done with the call before the write, cut and expiry came back.
  EXPECT_FALSE(bridge->on_done(false));
  EXPECT_EQ(call.cuts_cancelled, 1);
  EXPECT_EQ(call.expiries_cancelled, 1);
  EXPECT_FALSE(bridge->on_expiry(false));
  EXPECT_FALSE(bridge->on_cut(false));
  EXPECT_TRUE(bridge->on_write_done(false)) << "the last one releases";
  EXPECT_TRUE(call.finishes.empty()) << "no finish on a call gRPC is done with";
}

TEST_F(stream_bridge_test, the_clients_end_reaches_the_session_once) {
  make();
  bind();
  bridge->attached();
  EXPECT_EQ(m.streams.load(), 1);
  EXPECT_TRUE(bridge->on_done(true));
  EXPECT_EQ(m.streams.load(), 0);
  run();
  EXPECT_EQ(said->stream_end, 1);
  EXPECT_FALSE(session_exit()) << "a plain cancel is no exit reason";
  // The session's exit after the client's end finishes nothing.
  bridge->finish(caf::make_error(ec::stream_ended));
  bridge->finish(grpc::Status{StatusCode::INTERNAL, "late"});
  EXPECT_TRUE(call.finishes.empty());
  run();
  EXPECT_EQ(said->stream_end, 1);
  EXPECT_FALSE(bridge->bind(session)) << "the client is gone";
  bridge->attached();
  EXPECT_EQ(m.streams.load(), 0) << "a call that is over is not counted";
}

TEST_F(stream_bridge_test, a_cancel_at_the_calls_deadline_is_the_deadline) {
  make();
  bind();
  call.call_deadline = std::chrono::system_clock::now();
  EXPECT_TRUE(bridge->on_done(true));
  run();
  auto reason = session_exit();
  ASSERT_EQ(code_of(reason), ec::deadline_exceeded) << sys.render(reason);
  EXPECT_EQ(to_status(reason).error_code(), StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(said->stream_end, 0);
}

TEST_F(stream_bridge_test, an_end_from_the_grpc_layer_tells_the_session_once) {
  make();
  bind();
  bridge->finish(grpc::Status{StatusCode::NOT_FOUND, "unknown session"});
  bridge->finish(grpc::Status{StatusCode::INTERNAL, "late"});
  ASSERT_EQ(call.finishes.size(), 1u);
  EXPECT_EQ(call.finishes[0].error_code(), StatusCode::NOT_FOUND);
  run();
  EXPECT_EQ(said->stream_end, 1) << "the session did not ask for it";
  EXPECT_FALSE(bridge->on_finish_done());
  EXPECT_TRUE(bridge->on_done(false));
}

TEST_F(stream_bridge_test, a_pumping_stream_stops_writing_once_finished) {
  ASSERT_NO_FATAL_FAILURE(pumping_with_a_write());
  put("A", 2);
  bridge->finish(caf::make_error(ec::stopped));
  EXPECT_FALSE(bridge->on_write_done(true));
  EXPECT_EQ(call.writes.size(), 1u) << "the pending update is not written";
  ASSERT_EQ(call.finishes.size(), 1u);
  EXPECT_TRUE(call.finishes[0].ok());
}

} // namespace
