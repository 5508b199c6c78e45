#include "actors/session_inbox.hpp"

#include <gtest/gtest.h>

#include <caf/make_message.hpp>

using namespace mm;

namespace {

/// The putter's clock reading, where the test does not look at it.
const std::chrono::steady_clock::time_point t0{};

caf::message update(const std::string& ticker, uint64_t seq) {
  price_update u;
  u.ticker = ticker;
  u.seq = seq;
  u.price = static_cast<double>(seq);
  return caf::make_message(std::move(u));
}

const price_update& as_update(const session_inbox::entry& x) {
  return x.update.get_as<price_update>(0);
}

TEST(session_inbox, wakes_once_until_emptied_and_counts_replaced) {
  session_inbox in;
  auto a = in.open("AAPL");
  EXPECT_TRUE(in.put(a, update("AAPL", 1), t0)) << "the first put wakes";
  for (uint64_t seq = 2; seq <= 10; ++seq)
    EXPECT_FALSE(in.put(a, update("AAPL", seq), t0)) << "woken already";
  EXPECT_EQ(in.size(), 1u) << "one pending update per ticker";
  std::vector<session_inbox::entry> out;
  in.take(100, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(as_update(out[0]).seq, 10u);
  EXPECT_EQ(out[0].replaced, 9u);
  EXPECT_EQ(in.size(), 0u);
  EXPECT_TRUE(in.put(a, update("AAPL", 11), t0)) << "emptied: wakes again";
}

TEST(session_inbox, takes_in_order_of_first_arrival_up_to_the_limit) {
  session_inbox in;
  auto a = in.open("A");
  auto b = in.open("B");
  auto c = in.open("C");
  in.put(b, update("B", 1), t0);
  in.put(a, update("A", 1), t0);
  in.put(b, update("B", 2), t0);
  in.put(c, update("C", 1), t0);
  std::vector<session_inbox::entry> out;
  in.take(2, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(as_update(out[0]).ticker, "B");
  EXPECT_EQ(as_update(out[0]).seq, 2u);
  EXPECT_EQ(as_update(out[1]).ticker, "A");
  EXPECT_FALSE(in.put(a, update("A", 2), t0))
    << "not emptied by a partial take: the session looks again anyway";
  out.clear();
  in.take(10, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(as_update(out[0]).ticker, "C");
  EXPECT_EQ(as_update(out[1]).ticker, "A");
  EXPECT_TRUE(in.put(c, update("C", 2), t0));
}

TEST(session_inbox, ignores_closed_slots_and_other_tickers) {
  session_inbox in;
  auto a = in.open("A");
  in.put(a, update("A", 1), t0);
  in.close(a);
  EXPECT_EQ(in.size(), 0u) << "closing drops the pending update";
  EXPECT_FALSE(in.put(a, update("A", 2), t0)) << "a late tick of a closed slot";
  auto b = in.open("B");
  EXPECT_EQ(b, a) << "closed slots are reused";
  EXPECT_FALSE(in.put(b, update("A", 3), t0))
    << "a late tick of the old ticker";
  EXPECT_EQ(in.size(), 0u);
  EXPECT_TRUE(in.put(b, update("B", 1), t0));
  EXPECT_EQ(in.size(), 1u);
}

TEST(session_inbox, keeps_the_newer_update_and_drops_covered_ones) {
  session_inbox in;
  auto a = in.open("A");
  in.put(a, update("A", 5), t0);
  EXPECT_FALSE(in.put(a, update("A", 4), t0));
  in.drop_up_to(a, 0, 4);
  EXPECT_EQ(in.size(), 1u) << "seq 5 is not covered by a snapshot of 4";
  in.drop_up_to(a, 0, 5);
  EXPECT_EQ(in.size(), 0u);
  EXPECT_TRUE(in.put(a, update("A", 6), t0))
    << "dropping the last pending update re-arms the wake-up";
  std::vector<session_inbox::entry> out;
  in.take(10, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(as_update(out[0]).seq, 6u);
  EXPECT_EQ(out[0].replaced, 0u) << "a dropped update is not conflated";
}

/// Counts kicks and, like the gRPC bridge, drains the inbox when kicked.
struct counting_pump : inbox_pump {
  explicit counting_pump(session_inbox& in) : in(in) {
    // nop
  }
  void kick() override {
    ++kicks;
    if (drain)
      in.take(100, taken);
  }
  session_inbox& in;
  bool drain = false;
  int kicks = 0;
  std::vector<session_inbox::entry> taken;
};

TEST(session_inbox, a_pump_takes_the_wake_ups_while_it_lives) {
  session_inbox in;
  auto a = in.open("A");
  auto pump = std::make_shared<counting_pump>(in);
  in.set_pump(pump);
  EXPECT_FALSE(in.put(a, update("A", 1), t0)) << "the pump is kicked instead";
  EXPECT_EQ(pump->kicks, 1);
  EXPECT_FALSE(in.put(a, update("A", 2), t0)) << "pending: no second kick";
  EXPECT_EQ(pump->kicks, 1);
  std::vector<session_inbox::entry> out;
  in.take(10, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(as_update(out[0]).seq, 2u);
  EXPECT_EQ(out[0].replaced, 1u);
  pump->drain = true;
  EXPECT_FALSE(in.put(a, update("A", 3), t0));
  EXPECT_EQ(pump->kicks, 2) << "emptied: the next put kicks again";
  ASSERT_EQ(pump->taken.size(), 1u) << "the kick ran outside the lock";
  EXPECT_FALSE(in.put(a, update("A", 4), t0));
  EXPECT_EQ(pump->kicks, 3) << "the kick emptied it: kicked again";
  pump.reset();
  EXPECT_TRUE(in.put(a, update("A", 5), t0))
    << "a pump that is gone leaves the wake-up to the session";
}

TEST(session_inbox, remembers_when_the_last_update_came) {
  session_inbox in;
  auto a = in.open("A");
  EXPECT_EQ(in.last_put().time_since_epoch().count(), 0);
  auto t1 = t0 + std::chrono::seconds(5);
  auto t2 = t1 + std::chrono::seconds(1);
  in.put(a, update("A", 1), t1);
  EXPECT_EQ(in.last_put(), t1);
  EXPECT_FALSE(in.put(a, update("A", 1), t2)) << "not newer";
  EXPECT_EQ(in.last_put(), t1) << "a refused update is not an update";
  in.put(a, update("A", 2), t2);
  EXPECT_EQ(in.last_put(), t2) << "kept while the first one is pending";
}

TEST(session_inbox, take_returns_what_the_taken_updates_replaced) {
  session_inbox in;
  auto a = in.open("A");
  auto b = in.open("B");
  for (uint64_t seq = 1; seq <= 4; ++seq)
    in.put(a, update("A", seq), t0);
  in.put(b, update("B", 1), t0);
  in.put(b, update("B", 2), t0);
  std::vector<session_inbox::entry> out;
  EXPECT_EQ(in.take(10, out), 3u + 1u);
  EXPECT_EQ(in.take(10, out), 0u) << "nothing left";
}

} // namespace
