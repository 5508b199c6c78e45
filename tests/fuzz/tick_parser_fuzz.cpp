// libFuzzer target: arbitrary payloads on arbitrary channel tickers through
// the feed parser. On success a tick must satisfy what docs/api.md promises
// about it; on failure the parser must say why. Parsing the same input twice
// must give the same answer: the parser reuses its buffers between calls.
//
// Input layout: byte 0 is the ticker's length n (mod 32), the next n bytes
// are the ticker, the rest is the payload.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "actors/errors.hpp"
#include "actors/price_update.hpp"
#include "actors/tick_parser.hpp"

namespace {

/// What the parser uses as `ts` when the payload has none.
constexpr int64_t now_ns = 1763800000123456789;

void check(bool ok, const char* what) {
  if (ok)
    return;
  std::fprintf(stderr, "invariant violated: %s\n", what);
  std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // One parser for the whole run, like one per listener.
  static mm::tick_parser parser;
  if (size == 0)
    return 0;
  auto ticker_len = std::min<size_t>(data[0] % 32, size - 1);
  std::string_view ticker{reinterpret_cast<const char*>(data + 1), ticker_len};
  std::string_view payload{reinterpret_cast<const char*>(data + 1 + ticker_len),
                           size - 1 - ticker_len};
  auto t = parser.parse(payload, ticker, now_ns);
  if (t) {
    check(std::isfinite(t->price), "price is finite");
    check(t->price > 0, "price > 0");
    check(t->volume >= 0, "volume >= 0");
    check(t->ts >= 0, "ts >= 0");
  } else {
    check(mm::code_of(t.error()) == mm::ec::malformed_tick,
          "a refused payload is malformed_tick");
    check(!mm::text_of(t.error()).empty(), "a refused payload says why");
  }
  auto again = parser.parse(payload, ticker, now_ns);
  check(static_cast<bool>(t) == static_cast<bool>(again), "same verdict twice");
  if (t && again) {
    check(t->price == again->price && t->volume == again->volume
            && t->ts == again->ts,
          "same tick twice");
  } else if (!t && !again) {
    check(mm::text_of(t.error()) == mm::text_of(again.error()),
          "same reason twice");
  }
  return 0;
}
