#include "service/heap_trim.hpp"

#include <gtest/gtest.h>

using namespace mm;

namespace {

constexpr uint64_t mib = uint64_t{1} << 20;

TEST(heap_trim, trims_an_idle_node_that_kept_freed_memory) {
  // After a churn: 38.7 MiB resident, 1.5 MiB in use (docs/guarantees.md).
  EXPECT_TRUE(worth_trimming(38 * mib, 2 * mib));
  // At least 8 MiB beyond what is in use, however small the heap.
  EXPECT_TRUE(worth_trimming(10 * mib, 2 * mib));
  EXPECT_FALSE(worth_trimming(9 * mib, 2 * mib));
}

TEST(heap_trim, leaves_a_busy_heap_alone) {
  // 50,000 sessions: about 1 GB resident and nearly all of it in use.
  EXPECT_FALSE(worth_trimming(1040 * mib, 990 * mib));
  // The slack must also reach a quarter of what is in use.
  EXPECT_FALSE(worth_trimming(1000 * mib + 249 * mib, 1000 * mib));
  EXPECT_TRUE(worth_trimming(1000 * mib + 250 * mib, 1000 * mib));
  // A quarter of the sessions gone: their memory is worth handing back.
  EXPECT_TRUE(worth_trimming(1040 * mib, 740 * mib));
}

TEST(heap_trim, never_trims_when_nothing_is_resident_beyond_use) {
  EXPECT_FALSE(worth_trimming(0, 0));
  EXPECT_FALSE(worth_trimming(100 * mib, 100 * mib));
  // RSS read as 0 (unreadable /proc) or below the heap: no trim.
  EXPECT_FALSE(worth_trimming(0, 50 * mib));
  EXPECT_FALSE(worth_trimming(40 * mib, 50 * mib));
}

} // namespace
