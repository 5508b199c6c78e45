// libFuzzer target: the reply path of the redis listener without a network.
// Bytes from "Redis" go through resp_feed in chunks of fuzzer-chosen sizes,
// and every message's payload through the tick parser, as the listener does.
// Splitting must not change what is decoded: up to the first protocol error,
// the chunked run yields exactly the events of one feed of the whole stream.
// After a protocol error the feed is reset, as the listener does when it
// reconnects, and the rest of the input goes on.
//
// Input layout: byte 0 holds k = byte % 8, the number of chunk-size bytes
// that follow (each size is byte + 1, used in turn); k = 0 means one chunk.
// The rest is the byte stream.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "actors/errors.hpp"
#include "actors/price_update.hpp"
#include "actors/resp_feed.hpp"
#include "actors/tick_parser.hpp"

namespace {

using mm::pubsub_event;
using mm::resp_feed;

/// The listener's default channel prefix.
constexpr std::string_view prefix = "prices:";

void check(bool ok, const char* what) {
  if (ok)
    return;
  std::fprintf(stderr, "invariant violated: %s\n", what);
  std::abort();
}

/// An event with its views copied, to compare runs.
struct event {
  pubsub_event::kind type;
  std::string channel;
  std::string payload;
  int64_t count;
  std::string text;

  bool operator==(const event& other) const {
    return type == other.type && channel == other.channel
           && payload == other.payload && count == other.count
           && text == other.text;
  }
};

/// What the listener does with one event; returns it copied.
event consume(const pubsub_event& x, mm::tick_parser& parser) {
  using kind = pubsub_event::kind;
  check(x.count >= -1, "count is -1 or a real count");
  if (x.type == kind::message) {
    auto ticker = x.channel.substr(std::min(x.channel.size(), prefix.size()));
    if (auto t = parser.parse(x.payload, ticker, 0)) {
      check(std::isfinite(t->price) && t->price > 0, "price finite > 0");
      check(t->volume >= 0 && t->ts >= 0, "volume, ts >= 0");
    } else {
      check(!mm::text_of(t.error()).empty(), "a refused payload says why");
    }
  } else if (x.type == kind::error || x.type == kind::unexpected) {
    check(x.type == kind::error || !x.text.empty(), "unexpected says what");
  }
  // Touch every byte of the views: ASan finds any that dangle.
  return {x.type, std::string{x.channel}, std::string{x.payload}, x.count,
          std::string{x.text}};
}

/// Drains `feed`; returns false on a protocol error.
bool drain(resp_feed& feed, mm::tick_parser& parser, std::vector<event>& out) {
  pubsub_event x;
  for (;;) {
    switch (feed.next(x)) {
      case resp_feed::status::event:
        out.emplace_back(consume(x, parser));
        break;
      case resp_feed::status::need_more: return true;
      case resp_feed::status::protocol_error:
        check(!feed.error().empty(), "a protocol error says why");
        return false;
    }
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static mm::tick_parser parser;
  if (size == 0)
    return 0;
  size_t k = std::min<size_t>(data[0] % 8, size - 1);
  std::vector<size_t> sizes;
  for (size_t i = 0; i < k; ++i)
    sizes.push_back(size_t{data[1 + i]} + 1);
  auto bytes = reinterpret_cast<const char*>(data + 1 + k);
  auto len = size - 1 - k;
  // The reference: the whole stream in one feed.
  std::vector<event> whole;
  bool whole_ok = false;
  {
    resp_feed feed;
    whole_ok = feed.feed(bytes, len) && drain(feed, parser, whole);
  }
  // The same stream in chunks.
  resp_feed feed;
  std::vector<event> chunked;
  /// After the first error the reference has nothing left to compare.
  std::vector<event> after_error;
  bool compared = false;
  size_t pos = 0;
  for (size_t i = 0; pos < len; ++i) {
    auto n = sizes.empty() ? len : std::min(sizes[i % sizes.size()], len - pos);
    auto& out = compared ? after_error : chunked;
    bool ok = feed.feed(bytes + pos, n) && drain(feed, parser, out);
    after_error.clear();
    pos += n;
    if (!ok) {
      if (!compared) {
        check(!whole_ok, "an error in chunks is an error in one piece");
        check(chunked == whole, "same events before the error");
        compared = true;
      }
      feed.reset();
    }
  }
  if (!compared) {
    check(whole_ok, "no error in chunks, none in one piece");
    check(chunked == whole, "same events, however split");
  }
  return 0;
}
