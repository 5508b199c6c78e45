// The feed's payload and pacing (feed/): what mm-feed, mm-bench's feed and
// the integration tests publish, and when. The pacer is driven with
// made-up times: no clock, no sleeps.

#include <cmath>
#include <limits>
#include <string>

#include <gtest/gtest.h>

#include "feed/pacer.hpp"
#include "feed/tick_payload.hpp"

namespace mm::feed {
namespace {

constexpr int64_t ms = 1'000'000;
constexpr int64_t s = 1'000 * ms;

TEST(tick_payload, is_the_feed_format) {
  EXPECT_EQ(tick_payload(189.25, 100, 1700000000000000000),
            R"({"price":189.25,"volume":100,"ts":1700000000000000000})");
  EXPECT_EQ(tick_payload(100, 0, 0), R"({"price":100,"volume":0,"ts":0})");
  EXPECT_EQ(tick_payload(-1.5, -2, -3),
            R"({"price":-1.5,"volume":-2,"ts":-3})");
}

TEST(tick_payload, prices_read_back_exactly) {
  for (double price : {0.1, 1.0 / 3, 189.2512345678901, 1e-300, 1.7e308}) {
    auto text = tick_payload(price, 1, 1);
    auto at = text.find(':') + 1;
    EXPECT_EQ(std::stod(text.substr(at, text.find(',') - at)), price) << text;
  }
}

TEST(tick_payload, extremes_fit_and_non_finite_is_null) {
  char buf[max_tick_payload];
  auto len = write_tick_payload(buf, -1.7976931348623157e308, INT64_MIN,
                                INT64_MIN);
  EXPECT_LT(len, max_tick_payload);
  EXPECT_EQ(std::string(buf), std::string(buf, len));
  EXPECT_EQ(tick_payload(std::numeric_limits<double>::infinity(), 1, 2),
            R"({"price":null,"volume":1,"ts":2})");
  EXPECT_EQ(tick_payload(std::nan(""), 1, 2),
            R"({"price":null,"volume":1,"ts":2})");
}

pacer::settings at_rate(double rate) {
  pacer::settings cfg;
  cfg.rate = rate;
  return cfg;
}

TEST(pacer, takes_the_slots_due_and_no_more) {
  pacer p{at_rate(10), 0}; // a slot every 100 ms from 0
  EXPECT_EQ(p.next_due(), 0);
  EXPECT_EQ(p.take(0), 1u);
  EXPECT_EQ(p.next_due(), 100 * ms);
  EXPECT_EQ(p.take(100 * ms), 1u);
  // Woken late: the slots of 200, 300 and 400 ms at once.
  EXPECT_EQ(p.take(450 * ms), 3u);
  EXPECT_EQ(p.next_due(), 500 * ms);
  EXPECT_FALSE(p.done());
}

TEST(pacer, batches_are_bounded_both_ways) {
  auto cfg = at_rate(1000);
  cfg.min_batch = 4;
  cfg.max_batch = 10;
  pacer p{cfg, 0};
  EXPECT_EQ(p.take(0), 4u); // ahead of the slots of 1, 2 and 3 ms
  EXPECT_EQ(p.next_due(), 4 * ms);
  EXPECT_EQ(p.take(1 * s), 10u); // far behind: 10 per round trip
  EXPECT_EQ(p.next_due(), 14 * ms);
  EXPECT_EQ(pacer::batch_per_millisecond(100), 1u);
  EXPECT_EQ(pacer::batch_per_millisecond(50'000), 50u);
  EXPECT_EQ(pacer::batch_per_millisecond(10'000'000), 256u);
}

TEST(pacer, drops_a_backlog_older_than_max_lag) {
  auto cfg = at_rate(10);
  cfg.max_lag_ns = 1 * s;
  pacer p{cfg, 0};
  EXPECT_EQ(p.take(1 * s), 11u); // 1 s behind: still caught up
  EXPECT_EQ(p.take(5 * s), 1u);  // 3.9 s behind: starts over at 5 s
  EXPECT_EQ(p.next_due(), 5 * s + 100 * ms);
  pacer keeps{at_rate(10), 0};
  EXPECT_EQ(keeps.take(5 * s), 51u); // no max_lag: the whole backlog
}

TEST(pacer, restart_forgets_missed_slots) {
  pacer p{at_rate(10), 0};
  EXPECT_EQ(p.take(0), 1u);
  p.restart(7 * s);
  EXPECT_EQ(p.next_due(), 7 * s);
  EXPECT_EQ(p.take(7 * s), 1u);
}

TEST(pacer, never_takes_a_slot_at_or_after_the_deadline) {
  auto cfg = at_rate(10);
  cfg.deadline = 1 * s; // slots 0, 100, ..., 900 ms: ten in all
  pacer p{cfg, 0};
  EXPECT_EQ(p.take(550 * ms), 6u);
  EXPECT_EQ(p.take(5 * s), 4u);
  EXPECT_TRUE(p.done());
  EXPECT_EQ(p.take(6 * s), 0u);
  auto ahead = cfg;
  ahead.min_batch = 100;
  pacer q{ahead, 0};
  EXPECT_EQ(q.take(0), 10u); // min_batch does not pass the deadline either
  EXPECT_TRUE(q.done());
}

} // namespace
} // namespace mm::feed
