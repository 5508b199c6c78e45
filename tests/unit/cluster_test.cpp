// Rendezvous hashing of tickers over hubs (actors/cluster/rendezvous.hpp): the
// same owner whatever the order of the hubs, every hub gets a share, and a hub
// that leaves moves only its own tickers.

#include "actors/cluster/rendezvous.hpp"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace mm {
namespace {

std::vector<std::string> some_tickers(size_t n) {
  std::vector<std::string> result;
  for (size_t i = 0; i < n; ++i)
    result.push_back("T" + std::to_string(i));
  return result;
}

TEST(rendezvous, owner_does_not_depend_on_the_order_of_hubs) {
  std::vector<std::string> hubs{"10.0.0.1:7000", "10.0.0.2:7000",
                                "10.0.0.3:7000"};
  auto reversed = hubs;
  std::reverse(reversed.begin(), reversed.end());
  for (auto& t : some_tickers(500))
    EXPECT_EQ(hubs[owner_of(t, hubs)], reversed[owner_of(t, reversed)]) << t;
}

TEST(rendezvous, is_stable_across_builds) {
  // Fixed answers: a change of the hash would split a cluster of mixed
  // builds (bump cluster_protocol_version with it).
  std::vector<std::string> hubs{"127.0.0.1:7000", "127.0.0.1:7001"};
  std::string owners;
  for (auto t : {"AAPL", "MSFT", "GOOG", "AMZN", "TSLA", "NVDA", "META"})
    owners += std::to_string(owner_of(t, hubs));
  EXPECT_EQ(owners, "0100011");
}

TEST(rendezvous, spreads_tickers_over_all_hubs) {
  std::vector<std::string> hubs{"a:1", "b:1", "c:1", "d:1"};
  std::map<size_t, size_t> count;
  for (auto& t : some_tickers(4000))
    ++count[owner_of(t, hubs)];
  ASSERT_EQ(count.size(), hubs.size());
  for (auto& [hub, n] : count)
    EXPECT_GT(n, 800u) << hubs[hub]; // 1000 expected each
}

TEST(rendezvous, a_hub_that_leaves_moves_only_its_tickers) {
  std::vector<std::string> hubs{"a:1", "b:1", "c:1"};
  std::vector<std::string> fewer{"a:1", "c:1"};
  for (auto& t : some_tickers(1000)) {
    auto before = hubs[owner_of(t, hubs)];
    auto after = fewer[owner_of(t, fewer)];
    if (before != "b:1") {
      EXPECT_EQ(before, after) << t;
    }
  }
}

TEST(rendezvous, one_hub_owns_everything) {
  std::vector<std::string> hubs{"only:1"};
  for (auto& t : some_tickers(10))
    EXPECT_EQ(owner_of(t, hubs), 0u);
}

} // namespace
} // namespace mm
