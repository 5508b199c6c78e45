#include "actors/flat_map.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

using namespace mm;

namespace {

std::vector<std::string> keys(const flat_map<std::string, int>& m) {
  std::vector<std::string> out;
  for (auto& kvp : m)
    out.push_back(kvp.first);
  return out;
}

TEST(flat_map, keeps_its_keys_sorted_and_unique) {
  flat_map<std::string, int> m;
  EXPECT_TRUE(m.empty());
  for (auto k : {"MSFT", "AAPL", "TSLA", "AAPL", "GOOG"}) {
    auto [i, added] = m.try_emplace(k);
    if (added)
      i->second = static_cast<int>(m.size());
  }
  EXPECT_EQ(keys(m),
            (std::vector<std::string>{"AAPL", "GOOG", "MSFT", "TSLA"}));
  // try_emplace of a known key finds it and leaves its value alone.
  auto [i, added] = m.try_emplace("AAPL");
  EXPECT_FALSE(added);
  EXPECT_EQ(i->first, "AAPL");
  EXPECT_EQ(i->second, 2);
  EXPECT_EQ(m.find("MSFT")->second, 1);
  EXPECT_EQ(m.find("GOOG")->second, 4);
}

TEST(flat_map, finds_counts_and_erases) {
  flat_map<std::string, int> m;
  for (auto k : {"B", "D", "A", "C"})
    m.try_emplace(k).first->second = k[0];
  EXPECT_EQ(m.count("C"), 1u);
  EXPECT_EQ(m.count("E"), 0u);
  EXPECT_EQ(m.count(""), 0u);
  EXPECT_TRUE(m.find("E") == m.end());
  EXPECT_TRUE(m.find("BB") == m.end()); // between two keys
  const auto& cm = m;
  EXPECT_EQ(cm.find("D")->second, 'D');
  m.erase(m.find("B"));
  EXPECT_EQ(keys(m), (std::vector<std::string>{"A", "C", "D"}));
  EXPECT_EQ(m.count("B"), 0u);
  m.erase(m.find("D")); // the last one
  m.erase(m.find("A")); // the first one
  EXPECT_EQ(keys(m), (std::vector<std::string>{"C"}));
  m.erase(m.find("C"));
  EXPECT_TRUE(m.empty());
  EXPECT_TRUE(m.find("C") == m.end());
}

} // namespace
