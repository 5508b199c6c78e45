// The node's flush clock (service/flush_clock): real thread, real time; each
// test waits on a condition with a deadline, never for a fixed time.

#include "service/flush_clock.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include <gtest/gtest.h>

using namespace mm;
using namespace std::chrono_literals;

namespace {

/// Records the order in which flushes came due.
struct recorder {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<int> order;

  void add(int id) {
    {
      std::lock_guard<std::mutex> guard{mtx};
      order.push_back(id);
    }
    cv.notify_all();
  }

  /// Waits up to 5 s for `n` flushes.
  bool wait_for(size_t n) {
    std::unique_lock<std::mutex> guard{mtx};
    return cv.wait_for(guard, 5s, [&] { return order.size() >= n; });
  }
};

struct target : flush_target {
  target(recorder& r, int id) : r(r), id(id) {
    // nop
  }
  void flush_due() override {
    r.add(id);
  }
  /// Stall checks are recorded as the negative id.
  void stall_check_due() override {
    r.add(-id);
  }
  recorder& r;
  int id;
};

} // namespace

TEST(flush_clock, flushes_come_due_in_order_of_their_due_time) {
  recorder r;
  flush_clock clock;
  auto now = flush_clock::clock::now();
  auto a = std::make_shared<target>(r, 1);
  auto b = std::make_shared<target>(r, 2);
  auto c = std::make_shared<target>(r, 3);
  clock.schedule(now + 60ms, a);
  clock.schedule(now + 20ms, b);
  clock.schedule(now + 40ms, c);
  ASSERT_TRUE(r.wait_for(3));
  EXPECT_EQ(r.order, (std::vector<int>{2, 3, 1}));
  EXPECT_GE(flush_clock::clock::now(), now + 60ms) << "none came early";
  EXPECT_EQ(clock.pending(), 0u);
}

TEST(flush_clock, an_earlier_flush_wakes_the_sleeping_clock) {
  recorder r;
  flush_clock clock;
  auto now = flush_clock::clock::now();
  auto late = std::make_shared<target>(r, 1);
  auto soon = std::make_shared<target>(r, 2);
  clock.schedule(now + 1h, late);
  clock.schedule(now, soon);
  ASSERT_TRUE(r.wait_for(1)) << "the clock slept through an earlier flush";
  EXPECT_EQ(r.order, (std::vector<int>{2}));
  EXPECT_EQ(clock.pending(), 1u);
}

TEST(flush_clock, a_target_that_is_gone_is_not_called) {
  recorder r;
  flush_clock clock;
  auto now = flush_clock::clock::now();
  auto gone = std::make_shared<target>(r, 1);
  auto kept = std::make_shared<target>(r, 2);
  clock.schedule(now + 10ms, gone);
  clock.schedule(now + 20ms, kept);
  gone.reset();
  ASSERT_TRUE(r.wait_for(1));
  EXPECT_EQ(r.order, (std::vector<int>{2}));
}

TEST(flush_clock, stop_drops_what_is_scheduled_and_ignores_later_flushes) {
  recorder r;
  flush_clock clock;
  auto x = std::make_shared<target>(r, 1);
  clock.schedule(flush_clock::clock::now() + 1h, x);
  clock.stop();
  EXPECT_EQ(clock.pending(), 0u);
  clock.schedule(flush_clock::clock::now(), x);
  EXPECT_EQ(clock.pending(), 0u);
  clock.stop();
  EXPECT_TRUE(r.order.empty());
}

TEST(flush_clock, each_shard_keeps_its_own_order) {
  recorder r;
  flush_clock clock{2};
  ASSERT_EQ(clock.shards(), 2u);
  auto now = flush_clock::clock::now();
  auto a = std::make_shared<target>(r, 1);
  auto b = std::make_shared<target>(r, 2);
  auto c = std::make_shared<target>(r, 3);
  clock.schedule(now + 40ms, a, 0);
  clock.schedule(now + 20ms, b, 1);
  clock.schedule(now + 60ms, c, 3); // shard 3 % 2 = 1
  ASSERT_TRUE(r.wait_for(3));
  EXPECT_EQ(r.order, (std::vector<int>{2, 1, 3}));
  EXPECT_EQ(clock.pending(), 0u);
}

// --- driven clocks: no thread of their own; the test is the driving thread.

TEST(flush_clock,
     a_driven_clock_makes_the_flushes_due_on_the_thread_that_runs_it) {
  recorder r;
  flush_clock clock{2, flush_clock::driven};
  auto now = flush_clock::clock::now();
  EXPECT_EQ(clock.next_due(0), flush_clock::clock::time_point::max());
  auto a = std::make_shared<target>(r, 1);
  auto b = std::make_shared<target>(r, 2);
  auto c = std::make_shared<target>(r, 3);
  auto d = std::make_shared<target>(r, 4);
  clock.schedule(now - 5ms, a, 0);
  clock.schedule(now + 1h, b, 0);
  clock.schedule(now - 10ms, c, 0);
  clock.schedule(now - 10ms, d, 1);
  // Due times are rounded up to the millisecond.
  EXPECT_GE(clock.next_due(0), now - 10ms);
  EXPECT_LT(clock.next_due(0), now - 8ms);
  clock.run_due(0);
  EXPECT_EQ(r.order, (std::vector<int>{3, 1})) << "only shard 0, only due ones";
  EXPECT_GE(clock.next_due(0), now + 1h);
  EXPECT_EQ(clock.pending(), 2u);
  clock.run_due(1);
  EXPECT_EQ(r.order, (std::vector<int>{3, 1, 4}));
  EXPECT_EQ(clock.next_due(1), flush_clock::clock::time_point::max());
}

TEST(flush_clock, a_stall_check_calls_the_stall_check_and_not_the_flush) {
  recorder r;
  flush_clock clock{1, flush_clock::driven};
  auto now = flush_clock::clock::now();
  auto x = std::make_shared<target>(r, 1);
  auto y = std::make_shared<target>(r, 2);
  clock.schedule(now - 3ms, x, 0, flush_clock::timer::stall_check);
  clock.schedule(now - 2ms, x, 0);
  clock.schedule(now - 1ms, y, 0, flush_clock::timer::stall_check);
  clock.schedule(now + 1h, y, 0, flush_clock::timer::stall_check);
  clock.run_due(0);
  EXPECT_EQ(r.order, (std::vector<int>{-1, 1, -2}))
    << "each timer calls its own function, in order of due time";
  EXPECT_EQ(clock.pending(), 1u);
  y.reset();
  clock.stop();
  EXPECT_EQ(clock.pending(), 0u);
}

TEST(flush_clock,
     a_driven_clock_wakes_its_thread_only_for_a_new_earliest_flush) {
  recorder r;
  flush_clock clock{1, flush_clock::driven};
  int wakes = 0;
  clock.set_waker(0, [&wakes] { ++wakes; });
  auto now = flush_clock::clock::now();
  auto x = std::make_shared<target>(r, 1);
  clock.schedule(now + 50ms, x);
  EXPECT_EQ(wakes, 1) << "the first flush of an idle shard";
  clock.schedule(now + 60ms, x);
  clock.schedule(now + 50ms, x);
  EXPECT_EQ(wakes, 1) << "not earlier than what the thread waits for";
  clock.schedule(now + 10ms, x);
  EXPECT_EQ(wakes, 2) << "earlier than what the thread waits for";
  clock.set_waker(0, nullptr);
  clock.schedule(now, x);
  EXPECT_EQ(wakes, 2) << "an unset waker is not called";
  EXPECT_EQ(clock.pending(), 5u);
  clock.stop();
  clock.run_due(0);
  EXPECT_TRUE(r.order.empty()) << "a stopped clock makes no flush";
}

TEST(flush_clock, timers_of_targets_that_are_gone_are_dropped_before_due) {
  // Under churn every ended stream leaves a stall check 30 s ahead; they
  // must not pile up (nor, with make_shared targets, their memory).
  recorder r;
  flush_clock clock;
  auto now = flush_clock::clock::now();
  std::vector<std::shared_ptr<target>> live;
  for (int i = 0; i < 1500; ++i) {
    live.push_back(std::make_shared<target>(r, i + 1));
    clock.schedule(now + 1h, live.back(), 0, flush_clock::timer::stall_check);
  }
  for (int i = 0; i < 20000; ++i) {
    auto gone = std::make_shared<target>(r, 0);
    clock.schedule(now + 1h, gone, 0, flush_clock::timer::stall_check);
  }
  // The live ones stay; of the 20,000 gone, at most as many as live remain.
  EXPECT_GE(clock.pending(), live.size());
  EXPECT_LE(clock.pending(), 2 * live.size());
  // The heap still works: an earlier timer comes due first.
  auto soon = std::make_shared<target>(r, 9999);
  clock.schedule(now, soon);
  ASSERT_TRUE(r.wait_for(1));
  EXPECT_EQ(r.order, (std::vector<int>{9999}));
}
