#include "actors/lazy_deque.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

using namespace mm;

namespace {

std::vector<int> drain(lazy_deque<int>& q) {
  std::vector<int> out;
  while (!q.empty()) {
    out.push_back(q.front());
    q.pop_front();
  }
  return out;
}

TEST(lazy_deque, is_empty_until_the_first_element_and_keeps_fifo_order) {
  lazy_deque<int> q;
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.size(), 0u);
  q.remove_if([](int) { return true; }); // nothing to remove: no effect
  q.release_if_empty();
  EXPECT_TRUE(q.empty());
  q.push_back(1);
  q.push_back(2);
  std::vector<int> more{3, 4};
  q.append(more.begin(), more.end());
  q.append(more.end(), more.end()); // an empty range appends nothing
  EXPECT_EQ(q.size(), 4u);
  EXPECT_EQ(drain(q), (std::vector<int>{1, 2, 3, 4}));
}

TEST(lazy_deque, removes_what_the_predicate_selects_in_place) {
  lazy_deque<int> q;
  for (int i = 1; i <= 6; ++i)
    q.push_back(i);
  q.remove_if([](int x) { return x % 2 == 0; });
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(drain(q), (std::vector<int>{1, 3, 5}));
}

TEST(lazy_deque, releases_only_when_empty_and_works_again_afterwards) {
  lazy_deque<std::string> q;
  q.push_back("a");
  q.release_if_empty(); // not empty: keeps its element
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q.front(), "a");
  q.pop_front();
  q.release_if_empty();
  EXPECT_TRUE(q.empty());
  q.push_back("b");
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(q.front(), "b");
}

} // namespace
