// The tick rate and last update of a publisher (actors/tick_rate.hpp), as
// the broadcaster and the relay report them: ticks per second over the
// last 10 seconds, oldest first, the age of the last update, and the last
// update itself.

#include "actors/tick_rate.hpp"

#include <chrono>
#include <vector>

#include <gtest/gtest.h>

#include <caf/message.hpp>

using namespace mm;

namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

/// A time well past the clock's epoch, at the start of a second.
tick_rate::time_point at(milliseconds ms) {
  return tick_rate::time_point{seconds{1000}} + ms;
}

caf::message update_message(double price) {
  price_update u;
  u.ticker = "AAPL";
  u.price = price;
  u.seq = 1;
  return caf::make_message(u);
}

TEST(tick_rate, counts_ticks_per_second_oldest_first) {
  tick_rate r;
  r.count(at(milliseconds{0}));
  r.count(at(milliseconds{999}));
  r.count(at(milliseconds{1000}));
  r.count(at(milliseconds{3500}));
  r.count(at(milliseconds{3600}));
  r.count(at(milliseconds{3700}));
  auto xs = r.per_second(at(milliseconds{3900}));
  // Seconds 994..1003: 1000 had two ticks, 1001 one, 1003 three.
  std::vector<uint32_t> want{0, 0, 0, 0, 0, 0, 2, 1, 0, 3};
  EXPECT_EQ(xs, want);
  EXPECT_EQ(r.last_tick_at(), at(milliseconds{3700}));
}

TEST(tick_rate, forgets_seconds_older_than_its_window) {
  tick_rate r;
  r.count(at(milliseconds{0}));
  r.count(at(milliseconds{0}));
  // Ten seconds later the slot of second 1000 holds second 1010's count.
  r.count(at(seconds{10}));
  auto xs = r.per_second(at(seconds{10}));
  ASSERT_EQ(xs.size(), tick_rate::rate_window);
  EXPECT_EQ(xs.back(), 1u);
  uint32_t total = 0;
  for (auto n : xs)
    total += n;
  EXPECT_EQ(total, 1u);
  // And a second without ticks reads 0, not what its slot held before.
  auto later = r.per_second(at(seconds{20}));
  EXPECT_EQ(later, std::vector<uint32_t>(tick_rate::rate_window, 0));
}

TEST(tick_rate, describes_no_update_as_none) {
  tick_rate r;
  ticker_info x;
  r.describe(x, caf::message{}, at(milliseconds{0}));
  EXPECT_TRUE(x.last.empty());
  EXPECT_EQ(x.last_update_ms, -1);
  EXPECT_EQ(x.per_second, std::vector<uint32_t>(tick_rate::rate_window, 0));
  auto h = r.health("AAPL", caf::message{}, at(milliseconds{0}), false);
  EXPECT_EQ(h.ticker, "AAPL");
  EXPECT_TRUE(h.last.empty());
  EXPECT_EQ(h.last_tick_age_ms, -1);
  EXPECT_FALSE(h.upstream_connected);
}

TEST(tick_rate, describes_the_last_update_and_its_age) {
  tick_rate r;
  auto last = update_message(12.5);
  r.count(at(milliseconds{100}));
  ticker_info x;
  r.describe(x, last, at(milliseconds{350}));
  ASSERT_EQ(x.last.size(), 1u);
  EXPECT_EQ(x.last[0].price, 12.5);
  EXPECT_EQ(x.last_update_ms, 250);
  EXPECT_EQ(x.per_second.back(), 1u);
  auto h = r.health("AAPL", last, at(milliseconds{350}), true);
  ASSERT_EQ(h.last.size(), 1u);
  EXPECT_EQ(h.last[0].price, 12.5);
  EXPECT_EQ(h.last_tick_age_ms, 250);
  EXPECT_TRUE(h.upstream_connected);
}

TEST(last_of, is_empty_without_an_update_and_the_update_with_one) {
  EXPECT_TRUE(last_of(caf::message{}).empty());
  auto xs = last_of(update_message(3));
  ASSERT_EQ(xs.size(), 1u);
  EXPECT_EQ(xs[0].price, 3);
  EXPECT_EQ(xs[0].ticker, "AAPL");
}

} // namespace
