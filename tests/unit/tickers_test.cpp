#include "actors/tickers.hpp"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

using testing::ElementsAre;
using testing::HasSubstr;

namespace {

TEST(normalize_ticker, trims_and_upper_cases) {
  EXPECT_EQ(mm::normalize_ticker("AAPL"), "AAPL");
  EXPECT_EQ(mm::normalize_ticker("aapl"), "AAPL");
  EXPECT_EQ(mm::normalize_ticker("  msft "), "MSFT");
  EXPECT_EQ(mm::normalize_ticker("\t\r\ngoog\v\f"), "GOOG");
  EXPECT_EQ(mm::normalize_ticker("brk.b"), "BRK.B");
  EXPECT_EQ(mm::normalize_ticker("bf-b"), "BF-B");
  EXPECT_EQ(mm::normalize_ticker("7203"), "7203");
  EXPECT_EQ(mm::normalize_ticker("x"), "X");
  EXPECT_EQ(mm::normalize_ticker("A."), "A.");
}

TEST(normalize_ticker, sixteen_characters_at_most) {
  EXPECT_EQ(mm::normalize_ticker("abcdefghijklmnop"), "ABCDEFGHIJKLMNOP");
  EXPECT_EQ(mm::normalize_ticker("  abcdefghijklmnop  "), "ABCDEFGHIJKLMNOP");
  EXPECT_EQ(mm::normalize_ticker("abcdefghijklmnopq"), "");
  EXPECT_EQ(mm::normalize_ticker(std::string(1000, 'A')), "");
}

TEST(normalize_ticker, refuses_malformed) {
  for (auto raw :
       {"", " ", "\t\n", ".A", "-A", ".", "-", "A B", "A_B", "A/B", "A:B", "A*",
        "\"AAPL\"", "AAPL\n\n\nX", "\xc3\x84PPL", "AA\x01PL"})
    EXPECT_EQ(mm::normalize_ticker(raw), "") << raw;
  EXPECT_EQ(mm::normalize_ticker(std::string_view("AA\0PL", 5)), "");
}

TEST(normalize_tickers, sorts_and_folds_duplicates) {
  std::vector<std::string> out;
  EXPECT_EQ(
    mm::normalize_tickers({"msft", " aapl", "AAPL", "MSFT ", "goog"}, out), "");
  EXPECT_THAT(out, ElementsAre("AAPL", "GOOG", "MSFT"));
}

TEST(normalize_tickers, replaces_previous_content) {
  std::vector<std::string> out{"OLD", "ZZZ"};
  EXPECT_EQ(mm::normalize_tickers({"ibm"}, out), "");
  EXPECT_THAT(out, ElementsAre("IBM"));
  EXPECT_EQ(mm::normalize_tickers({}, out), "");
  EXPECT_TRUE(out.empty());
}

TEST(normalize_tickers, error_names_the_ticker) {
  std::vector<std::string> out;
  auto why = mm::normalize_tickers({"AAPL", "bad ticker!", "MSFT"}, out);
  EXPECT_THAT(why, HasSubstr("\"bad ticker!\""));
  EXPECT_THAT(why, HasSubstr("16"));
  why = mm::normalize_tickers({".hidden"}, out);
  EXPECT_THAT(why, HasSubstr("\".hidden\""));
  why = mm::normalize_tickers({""}, out);
  EXPECT_THAT(why, HasSubstr("\"\""));
}

TEST(normalize_tickers, error_shortens_very_long_tickers) {
  std::vector<std::string> out;
  auto why = mm::normalize_tickers({std::string(500, 'Q')}, out);
  EXPECT_THAT(why, HasSubstr(std::string(40, 'Q') + "..."));
  EXPECT_THAT(why, testing::Not(HasSubstr(std::string(41, 'Q'))));
}

} // namespace
