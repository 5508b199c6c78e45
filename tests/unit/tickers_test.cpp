#include "actors/tickers.hpp"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <caf/expected.hpp>

#include "actors/errors.hpp"

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

/// The text of the error of `x`, or "" if `x` holds a value.
std::string why_of(const caf::expected<std::vector<std::string>>& x) {
  return x ? std::string{} : mm::text_of(x.error());
}

TEST(normalize_tickers, sorts_and_folds_duplicates) {
  auto out = mm::normalize_tickers({"msft", " aapl", "AAPL", "MSFT ", "goog"});
  ASSERT_TRUE(out) << why_of(out);
  EXPECT_THAT(*out, ElementsAre("AAPL", "GOOG", "MSFT"));
}

TEST(normalize_tickers, empty_input_gives_empty_list) {
  auto out = mm::normalize_tickers({"ibm"});
  ASSERT_TRUE(out) << why_of(out);
  EXPECT_THAT(*out, ElementsAre("IBM"));
  out = mm::normalize_tickers({});
  ASSERT_TRUE(out) << why_of(out);
  EXPECT_TRUE(out->empty());
}

TEST(normalize_tickers, error_names_the_ticker) {
  auto out = mm::normalize_tickers({"AAPL", "bad ticker!", "MSFT"});
  ASSERT_FALSE(out);
  EXPECT_EQ(mm::code_of(out.error()), mm::ec::bad_ticker);
  auto why = why_of(out);
  EXPECT_THAT(why, HasSubstr("\"bad ticker!\""));
  EXPECT_THAT(why, HasSubstr("16"));
  why = why_of(mm::normalize_tickers({".hidden"}));
  EXPECT_THAT(why, HasSubstr("\".hidden\""));
  why = why_of(mm::normalize_tickers({""}));
  EXPECT_THAT(why, HasSubstr("\"\""));
}

TEST(normalize_tickers, error_shortens_very_long_tickers) {
  auto why = why_of(mm::normalize_tickers({std::string(500, 'Q')}));
  EXPECT_THAT(why, HasSubstr(std::string(40, 'Q') + "..."));
  EXPECT_THAT(why, testing::Not(HasSubstr(std::string(41, 'Q'))));
}

} // namespace
