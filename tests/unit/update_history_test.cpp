#include "actors/update_history.hpp"

#include <gtest/gtest.h>

#include <caf/make_message.hpp>

#include "actors/metrics.hpp"

using namespace mm;

namespace {

using namespace std::chrono_literals;
using time_point = update_history::time_point;

caf::message update(uint64_t epoch, uint64_t seq) {
  price_update u;
  u.ticker = "AAPL";
  u.price = static_cast<double>(seq);
  u.epoch = epoch;
  u.seq = seq;
  return caf::make_message(std::move(u));
}

std::vector<uint64_t> seqs(const resume_reply& r) {
  std::vector<uint64_t> result;
  for (auto& x : r.updates)
    result.push_back(x.seq);
  return result;
}

TEST(update_history, keeps_at_most_size_updates_and_counts_them) {
  metrics m;
  {
    update_history h{3, 60000ms, &m};
    time_point t{};
    for (uint64_t i = 1; i <= 5; ++i)
      h.add(update(7, i), t);
    EXPECT_EQ(h.size(), 3u);
    EXPECT_EQ(m.history_entries.load(), 3);
    EXPECT_EQ(
      m.history_bytes.load(),
      3 * update_history::entry_bytes(update(7, 1).get_as<price_update>(0)));
    // The oldest kept is 3: resuming after 2 recovers 3, 4, 5.
    auto r = h.resume({"AAPL", 7, 2}, update(7, 5));
    EXPECT_TRUE(r.recovered);
    EXPECT_EQ(seqs(r), (std::vector<uint64_t>{3, 4, 5}));
    // After 1, update 2 is gone: not recovered, the last update instead.
    r = h.resume({"AAPL", 7, 1}, update(7, 5));
    EXPECT_FALSE(r.recovered);
    EXPECT_EQ(seqs(r), (std::vector<uint64_t>{5}));
  }
  EXPECT_EQ(m.history_entries.load(), 0);
  EXPECT_EQ(m.history_bytes.load(), 0);
}

TEST(update_history, drops_updates_older_than_the_ttl) {
  metrics m;
  update_history h{100, 1000ms, &m};
  time_point t{};
  h.add(update(7, 1), t);
  h.add(update(7, 2), t + 500ms);
  EXPECT_EQ(h.next_expiry(), t + 1000ms);
  h.prune(t + 999ms);
  EXPECT_EQ(h.size(), 2u);
  h.prune(t + 1000ms);
  EXPECT_EQ(h.size(), 1u);
  EXPECT_EQ(m.history_entries.load(), 1);
  h.prune(t + 1500ms);
  EXPECT_TRUE(h.empty());
  EXPECT_EQ(m.history_bytes.load(), 0);
}

TEST(update_history, resume_needs_the_same_epoch_and_every_update) {
  update_history h{100, 60000ms, nullptr};
  time_point t{};
  for (uint64_t i = 1; i <= 4; ++i)
    h.add(update(7, i), t);
  auto last = update(7, 4);
  // Up to date: recovered, nothing to replay.
  auto r = h.resume({"AAPL", 7, 4}, last);
  EXPECT_TRUE(r.recovered);
  EXPECT_TRUE(r.updates.empty());
  // From the start of the epoch.
  r = h.resume({"AAPL", 7, 0}, last);
  EXPECT_TRUE(r.recovered);
  EXPECT_EQ(seqs(r), (std::vector<uint64_t>{1, 2, 3, 4}));
  // Another epoch, a position ahead of us, no epoch at all: not recovered.
  EXPECT_FALSE(h.resume({"AAPL", 8, 2}, last).recovered);
  EXPECT_FALSE(h.resume({"AAPL", 7, 9}, last).recovered);
  EXPECT_FALSE(h.resume({"AAPL", 0, 2}, last).recovered);
  // Nothing known at all: not recovered, and no last update to send.
  r = h.resume({"AAPL", 7, 2}, caf::message{});
  EXPECT_FALSE(r.recovered);
  EXPECT_TRUE(r.updates.empty());
}

TEST(update_history, an_update_that_does_not_follow_starts_over) {
  update_history h{100, 60000ms, nullptr};
  time_point t{};
  h.add(update(7, 1), t);
  h.add(update(7, 2), t);
  h.add(update(7, 5), t); // 3 and 4 never came (a relay that lost its hub)
  EXPECT_EQ(h.size(), 1u);
  EXPECT_FALSE(h.resume({"AAPL", 7, 2}, update(7, 5)).recovered);
  h.add(update(9, 1), t); // a new epoch
  EXPECT_EQ(h.size(), 1u);
  auto r = h.resume({"AAPL", 9, 0}, update(9, 1));
  EXPECT_TRUE(r.recovered);
  EXPECT_EQ(seqs(r), (std::vector<uint64_t>{1}));
}

TEST(update_history, size_zero_keeps_nothing) {
  metrics m;
  update_history h{0, 60000ms, &m};
  h.add(update(7, 1), time_point{});
  EXPECT_TRUE(h.empty());
  EXPECT_EQ(m.history_entries.load(), 0);
}

} // namespace
