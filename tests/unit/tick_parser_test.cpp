#include "actors/tick_parser.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "actors/errors.hpp"

using testing::AnyOf;
using testing::Eq;
using testing::HasSubstr;

namespace {

constexpr int64_t now_ns = 1'700'000'000'000'000'000;

class tick_parser_test : public testing::Test {
protected:
  /// Parses `payload` on the channel of AAPL and expects it to be accepted.
  mm::tick accept(std::string_view payload, std::string_view ticker = "AAPL") {
    auto out = parser.parse(payload, ticker, now_ns);
    EXPECT_TRUE(out) << "payload: " << payload
                     << "\nwhy: " << mm::text_of(out.error());
    return out ? *out : mm::tick{};
  }

  /// Parses `payload` on the channel of AAPL, expects it to be refused
  /// with ec::malformed_tick and returns why.
  std::string reject(std::string_view payload,
                     std::string_view ticker = "AAPL") {
    auto out = parser.parse(payload, ticker, now_ns);
    EXPECT_FALSE(out) << "payload: " << payload;
    if (out)
      return {};
    EXPECT_EQ(mm::code_of(out.error()), mm::ec::malformed_tick)
      << "payload: " << payload;
    auto why = mm::text_of(out.error());
    EXPECT_FALSE(why.empty()) << "payload: " << payload;
    return why;
  }

  mm::tick_parser parser;
};

// --- valid payloads ----------------------------------------------------------

TEST_F(tick_parser_test, full_payload) {
  auto t =
    accept(R"({"price": 189.25, "volume": 100, "ts": 1763800000123456789})");
  EXPECT_EQ(t.price, 189.25);
  EXPECT_EQ(t.volume, 100);
  EXPECT_EQ(t.ts, 1763800000123456789);
}

TEST_F(tick_parser_test, price_alone_defaults_volume_and_ts) {
  auto t = accept(R"({"price":1.5})");
  EXPECT_EQ(t.price, 1.5);
  EXPECT_EQ(t.volume, 0);
  EXPECT_EQ(t.ts, now_ns);
}

TEST_F(tick_parser_test, integer_and_exponent_prices) {
  EXPECT_EQ(accept(R"({"price":189})").price, 189.0);
  EXPECT_EQ(accept(R"({"price":1.5e2})").price, 150.0);
  EXPECT_EQ(accept(R"({"price":2E-2})").price, 0.02);
  EXPECT_EQ(accept(R"({"price":18446744073709551615})").price,
            18446744073709551615.0);
}

TEST_F(tick_parser_test, price_boundaries) {
  EXPECT_EQ(accept(R"({"price":1e-300})").price, 1e-300);
  EXPECT_EQ(accept(R"({"price":1.7976931348623157e308})").price,
            std::numeric_limits<double>::max());
  EXPECT_EQ(accept(R"({"price":5e-324})").price,
            std::numeric_limits<double>::denorm_min());
}

TEST_F(tick_parser_test, volume_and_ts_boundaries) {
  auto zero = accept(R"({"price":1,"volume":0,"ts":0})");
  EXPECT_EQ(zero.volume, 0);
  EXPECT_EQ(zero.ts, 0);
  auto max = accept(R"({"price":1,"volume":9223372036854775807,)"
                    R"("ts":9223372036854775807})");
  EXPECT_EQ(max.volume, std::numeric_limits<int64_t>::max());
  EXPECT_EQ(max.ts, std::numeric_limits<int64_t>::max());
}

TEST_F(tick_parser_test, key_order_does_not_matter) {
  auto t = accept(R"({"ts":5,"volume":7,"price":3.25})");
  EXPECT_EQ(t.price, 3.25);
  EXPECT_EQ(t.volume, 7);
  EXPECT_EQ(t.ts, 5);
}

TEST_F(tick_parser_test, whitespace_everywhere) {
  auto t = accept(" \n\t{ \"price\" :\r\n 1.5 ,\t\"volume\" : 2 } \n ");
  EXPECT_EQ(t.price, 1.5);
  EXPECT_EQ(t.volume, 2);
}

TEST_F(tick_parser_test, unknown_keys_are_ignored) {
  auto t = accept(R"({"price":2,"bid":{"p":[1,2,{"x":null}],"q":"x"},)"
                  R"("src":"sim","flags":[true,false],"n":-1.5e300,)"
                  R"("Price":-1,"PRICE":"x"})");
  EXPECT_EQ(t.price, 2);
  EXPECT_EQ(t.volume, 0);
}

TEST_F(tick_parser_test, duplicate_unknown_keys_are_ignored) {
  EXPECT_EQ(accept(R"({"src":1,"price":2,"src":2})").price, 2);
}

TEST_F(tick_parser_test, escaped_key_is_the_same_key) {
  // JSON compares keys after unescaping: "pr\u0069ce" is "price".
  EXPECT_EQ(accept(R"({"pr\u0069ce":4})").price, 4);
  EXPECT_EQ(reject(R"({"price":4,"pr\u0069ce":5})"), "duplicate key \"price\"");
}

TEST_F(tick_parser_test, ticker_must_match_the_channel) {
  EXPECT_EQ(accept(R"({"price":1,"ticker":"AAPL"})").price, 1);
  EXPECT_EQ(accept(R"({"price":1,"ticker":" aapl "})").price, 1);
  EXPECT_EQ(accept(R"({"ticker":"brk.b","price":1})", "BRK.B").price, 1);
  auto why = reject(R"({"price":1,"ticker":"MSFT"})");
  EXPECT_THAT(why, HasSubstr("ticker \"MSFT\""));
  EXPECT_THAT(why, HasSubstr("AAPL"));
  EXPECT_THAT(reject(R"({"price":1,"ticker":""})"), HasSubstr("ticker"));
  EXPECT_THAT(reject(R"({"price":1,"ticker":"AAPLX"})"), HasSubstr("ticker"));
  EXPECT_THAT(reject(R"({"price":1,"ticker":"AA PL"})"), HasSubstr("ticker"));
}

TEST_F(tick_parser_test, ticker_must_be_a_string) {
  EXPECT_EQ(reject(R"({"price":1,"ticker":5})"), "ticker must be a string");
  EXPECT_EQ(reject(R"({"price":1,"ticker":null})"), "ticker must be a string");
  EXPECT_EQ(reject(R"({"price":1,"ticker":["AAPL"]})"),
            "ticker must be a string");
}

TEST_F(tick_parser_test, long_mismatching_ticker_is_shortened_in_why) {
  auto why =
    reject(R"({"price":1,"ticker":")" + std::string(1000, 'X') + R"("})");
  EXPECT_LT(why.size(), 120u);
  EXPECT_THAT(why, HasSubstr("..."));
}

// --- malformed payloads ------------------------------------------------------

TEST_F(tick_parser_test, empty_payload) {
  EXPECT_EQ(reject(""), "payload is empty");
  EXPECT_EQ(reject("   \n\t"), "payload is empty");
}

TEST_F(tick_parser_test, not_json) {
  for (auto payload : {"price=1", "{price:1}", "{'price':1}", R"({"price":1,})",
                       R"({"price":)", R"({"price":1)", R"({"price)",
                       R"({"price":1 "volume":2})", R"({"price"1})",
                       R"({"price":01})", R"({"price":1.})", R"({"price":.5})",
                       R"({"price":+1})", R"({"price":0x10})", "\x01",
                       "{\"price\":1,\"x\":tru}", "{\"price\":1,\"x\":nul}"}) {
    EXPECT_THAT(reject(payload),
                AnyOf(Eq("payload is not valid JSON"),
                      Eq("payload has a number that is out of range or "
                         "malformed"),
                      Eq("price must be a finite number > 0")))
      << payload;
  }
}

TEST_F(tick_parser_test, trailing_garbage) {
  EXPECT_EQ(reject(R"({"price":1} x)"), "payload is not valid JSON");
  EXPECT_EQ(reject(R"({"price":1}{"price":2})"), "payload is not valid JSON");
  EXPECT_EQ(reject(R"({"price":1}})"), "payload is not valid JSON");
  EXPECT_EQ(reject(R"({"price":1},)"), "payload is not valid JSON");
  EXPECT_EQ(reject(std::string("{\"price\":1}\0", 12)),
            "payload is not valid JSON");
}

TEST_F(tick_parser_test, every_strict_prefix_is_refused) {
  std::string payload = R"({"price":189.25,"volume":100,"ts":17638000001})";
  for (size_t n = 1; n < payload.size(); ++n)
    reject(std::string_view{payload}.substr(0, n));
  accept(payload);
}

TEST_F(tick_parser_test, not_an_object) {
  for (auto payload : {"null", "true", "189.25", R"("price")", "[]",
                       R"([{"price":1}])", R"([189.25, 100])"})
    EXPECT_EQ(reject(payload), "payload is not a JSON object") << payload;
}

TEST_F(tick_parser_test, missing_price) {
  EXPECT_EQ(reject("{}"), "price is missing");
  EXPECT_EQ(reject(R"({"volume":1,"ts":2})"), "price is missing");
  EXPECT_EQ(reject(R"({"tick":{"price":1}})"), "price is missing");
  EXPECT_EQ(reject(R"({"Price":1})"), "price is missing");
}

TEST_F(tick_parser_test, price_not_positive) {
  for (auto payload :
       {R"({"price":0})", R"({"price":0.0})", R"({"price":-0})",
        R"({"price":-0.0})", R"({"price":-1})", R"({"price":-189.25})",
        R"({"price":1e-400})", R"({"price":-1e-400})"})
    EXPECT_EQ(reject(payload), "price must be a finite number > 0") << payload;
}

TEST_F(tick_parser_test, price_not_a_number) {
  for (auto payload :
       {R"({"price":"189.25"})", R"({"price":null})", R"({"price":true})",
        R"({"price":[1]})", R"({"price":{"v":1}})"})
    EXPECT_EQ(reject(payload), "price must be a finite number > 0") << payload;
}

TEST_F(tick_parser_test, non_finite_price_names_price) {
  for (auto payload :
       {R"({"price":NaN})", R"({"price":nan})", R"({"price":Infinity})",
        R"({"price":-Infinity})", R"({"price":inf})", R"({"price":1e400})",
        R"({"price":-1e400})", R"({"volume":1,"price":1e999})"})
    EXPECT_EQ(reject(payload), "price must be a finite number > 0") << payload;
}

TEST_F(tick_parser_test, bad_volume) {
  for (auto payload :
       {R"({"price":1,"volume":-1})", R"({"price":1,"volume":100.0})",
        R"({"price":1,"volume":1.5})", R"({"price":1,"volume":1e2})",
        R"({"price":1,"volume":"100"})", R"({"price":1,"volume":null})",
        R"({"price":1,"volume":[1]})",
        R"({"price":1,"volume":9223372036854775808})",
        R"({"price":1,"volume":18446744073709551615})",
        R"({"price":1,"volume":99999999999999999999})",
        R"({"price":1,"volume":-9223372036854775809})",
        R"({"price":1,"volume":NaN})"})
    EXPECT_EQ(reject(payload), "volume must be an integer >= 0") << payload;
}

TEST_F(tick_parser_test, bad_ts) {
  for (auto payload :
       {R"({"price":1,"ts":-1})", R"({"price":1,"ts":"123"})",
        R"({"price":1,"ts":1.5})", R"({"price":1,"ts":1763800000123456789.0})",
        R"({"price":1,"ts":1e18})", R"({"price":1,"ts":false})",
        R"({"price":1,"ts":9223372036854775808})",
        R"({"price":1,"ts":99999999999999999999})", R"({"price":1,"ts":{}})"})
    EXPECT_EQ(reject(payload), "ts must be an integer >= 0 (unix nanoseconds)")
      << payload;
}

TEST_F(tick_parser_test, duplicate_keys) {
  EXPECT_EQ(reject(R"({"price":1,"price":2})"), "duplicate key \"price\"");
  EXPECT_EQ(reject(R"({"price":1,"volume":1,"volume":1})"),
            "duplicate key \"volume\"");
  EXPECT_EQ(reject(R"({"ts":1,"price":1,"ts":1})"), "duplicate key \"ts\"");
  EXPECT_EQ(reject(R"({"price":1,"ticker":"AAPL","ticker":"AAPL"})"),
            "duplicate key \"ticker\"");
}

TEST_F(tick_parser_test, invalid_utf8) {
  EXPECT_EQ(reject("{\"price\":1,\"src\":\"\xff\xfe\"}"),
            "payload is not valid UTF-8");
}

TEST_F(tick_parser_test, deep_nesting_is_refused_without_crashing) {
  std::string payload = R"({"price":1,"x":)" + std::string(5000, '[')
                        + std::string(5000, ']') + "}";
  EXPECT_EQ(reject(payload), "payload is nested too deeply");
}

TEST_F(tick_parser_test, size_limit) {
  std::string filler(60 * 1024, 'a');
  auto big = R"({"price":3,"note":")" + filler + R"("})";
  EXPECT_EQ(accept(big).price, 3);
  auto too_big = R"({"price":3,"note":")" + filler + filler + R"("})";
  EXPECT_EQ(reject(too_big), "payload is larger than 64 KiB");
  // The parser keeps working after growing its buffers.
  EXPECT_EQ(accept(R"({"price":4})").price, 4);
}

TEST_F(tick_parser_test, parser_is_reusable_after_errors) {
  reject(R"({"price":NaN})");
  reject("[");
  reject(R"({"price":1,"price":1})");
  auto t = accept(R"({"price":7,"volume":8,"ts":9})");
  EXPECT_EQ(t.price, 7);
  EXPECT_EQ(t.volume, 8);
  EXPECT_EQ(t.ts, 9);
  // A shorter payload after a longer one must not see the old bytes.
  accept(R"({"price":1,"volume":22222222,"ts":3333333333})");
  EXPECT_EQ(reject(R"({"price":1)"), "payload is not valid JSON");
}

TEST_F(tick_parser_test, random_mutations_never_crash) {
  // Flips, inserts and deletes bytes of valid payloads; whatever the parser
  // accepts must still satisfy the feed's rules.
  std::mt19937_64 rng{42};
  const std::string seeds[] = {
    R"({"price": 189.25, "volume": 100, "ts": 1763800000123456789})",
    R"({"ticker":"AAPL","price":1e2,"x":[{"y":null},"z\u00e9"]})",
  };
  const char alphabet[] = "{}[]\":,.-+eE0123456789 \\u\xff\x00tfnaNI";
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string payload = seeds[i % 2];
    auto edits = 1 + rng() % 4;
    for (size_t e = 0; e < edits && !payload.empty(); ++e) {
      auto pos = rng() % payload.size();
      auto c = alphabet[rng() % (sizeof(alphabet) - 1)];
      switch (rng() % 3) {
        case 0: payload[pos] = c; break;
        case 1: payload.insert(payload.begin() + pos, c); break;
        default: payload.erase(pos, 1);
      }
    }
    if (auto out = parser.parse(payload, "AAPL", now_ns)) {
      ++accepted;
      EXPECT_TRUE(std::isfinite(out->price) && out->price > 0) << payload;
      EXPECT_GE(out->volume, 0) << payload;
      EXPECT_GE(out->ts, 0) << payload;
    } else {
      EXPECT_EQ(mm::code_of(out.error()), mm::ec::malformed_tick) << payload;
      EXPECT_FALSE(mm::text_of(out.error()).empty()) << payload;
    }
  }
  // Some mutations (e.g. in a digit) keep the payload valid.
  EXPECT_GT(accepted, 0);
}

TEST_F(tick_parser_test, random_bytes_never_crash) {
  std::mt19937_64 rng{7};
  for (int i = 0; i < 5000; ++i) {
    std::string payload(rng() % 64, '\0');
    for (auto& c : payload)
      c = static_cast<char>(rng());
    auto out = parser.parse(payload, "AAPL", now_ns);
    if (!out) {
      EXPECT_EQ(mm::code_of(out.error()), mm::ec::malformed_tick);
      EXPECT_FALSE(mm::text_of(out.error()).empty());
    }
  }
}

} // namespace
