// The reply path of the redis listener without a connection: RESP bytes in,
// pub/sub events out.

#include "actors/resp_feed.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace {

using mm::pubsub_event;
using mm::resp_feed;
using kind = pubsub_event::kind;

std::string bulk(const std::string& x) {
  return "$" + std::to_string(x.size()) + "\r\n" + x + "\r\n";
}

std::string message(const std::string& channel, const std::string& payload) {
  return "*3\r\n" + bulk("message") + bulk(channel) + bulk(payload);
}

/// A copy of one event whose views outlive the feed's next call.
struct event {
  kind type;
  std::string channel;
  std::string payload;
  int64_t count;
  std::string text;
};

/// Feeds `bytes` and collects every event up to the first protocol error.
std::vector<event> decode(resp_feed& feed, const std::string& bytes) {
  std::vector<event> result;
  if (!feed.feed(bytes.data(), bytes.size()))
    return result;
  pubsub_event x;
  while (feed.next(x) == resp_feed::status::event)
    result.push_back({x.type, std::string{x.channel}, std::string{x.payload},
                      x.count, std::string{x.text}});
  return result;
}

TEST(resp_feed, decodes_messages_and_confirmations) {
  resp_feed feed;
  auto xs = decode(feed, "*3\r\n" + bulk("subscribe") + bulk("prices:AAPL")
                           + ":1\r\n" + message("prices:AAPL", "{}") + "*3\r\n"
                           + bulk("unsubscribe") + bulk("prices:AAPL")
                           + ":0\r\n");
  ASSERT_EQ(xs.size(), 3u);
  EXPECT_EQ(xs[0].type, kind::subscribe);
  EXPECT_EQ(xs[0].channel, "prices:AAPL");
  EXPECT_EQ(xs[0].count, 1);
  EXPECT_EQ(xs[1].type, kind::message);
  EXPECT_EQ(xs[1].channel, "prices:AAPL");
  EXPECT_EQ(xs[1].payload, "{}");
  EXPECT_EQ(xs[2].type, kind::unsubscribe);
  EXPECT_EQ(xs[2].count, 0);
}

TEST(resp_feed, frames_split_at_every_byte) {
  resp_feed feed;
  auto bytes = message("prices:MSFT", R"({"price": 1})");
  std::vector<event> xs;
  for (auto c : bytes) {
    auto more = decode(feed, std::string(1, c));
    xs.insert(xs.end(), more.begin(), more.end());
  }
  ASSERT_EQ(xs.size(), 1u);
  EXPECT_EQ(xs[0].payload, R"({"price": 1})");
  pubsub_event x;
  EXPECT_EQ(feed.next(x), resp_feed::status::need_more);
}

TEST(resp_feed, errors_and_unexpected_replies) {
  resp_feed feed;
  auto xs = decode(feed, "-ERR unknown command\r\n:42\r\n"
                         "*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$-1\r\n"
                         "*3\r\n$4\r\npong\r\n$0\r\n\r\n$0\r\n\r\n"
                         "*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n$1\r\nx\r\n");
  ASSERT_EQ(xs.size(), 5u);
  EXPECT_EQ(xs[0].type, kind::error);
  EXPECT_EQ(xs[0].text, "ERR unknown command");
  EXPECT_EQ(xs[1].type, kind::unexpected);
  EXPECT_EQ(xs[1].text, "unexpected reply of type 3");
  EXPECT_EQ(xs[2].type, kind::unexpected);
  EXPECT_EQ(xs[2].text, "message reply without channel or payload");
  EXPECT_EQ(xs[3].type, kind::ignored);
  EXPECT_EQ(xs[4].type, kind::subscribe);
  EXPECT_EQ(xs[4].count, -1); // Not an integer: no count.
}

TEST(resp_feed, pong_in_both_forms) {
  resp_feed feed;
  // Subscribed, Redis answers PING with a push; otherwise with a status.
  auto xs =
    decode(feed, "*2\r\n" + bulk("pong") + bulk("") + "+PONG\r\n" + "+OK\r\n");
  ASSERT_EQ(xs.size(), 3u);
  EXPECT_EQ(xs[0].type, kind::pong);
  EXPECT_EQ(xs[1].type, kind::pong);
  EXPECT_EQ(xs[2].type, kind::unexpected);
}

TEST(resp_feed, protocol_error_sticks_until_reset) {
  resp_feed feed;
  std::string bad = "?this is not RESP\r\n";
  EXPECT_TRUE(feed.feed(bad.data(), bad.size()));
  pubsub_event x;
  EXPECT_EQ(feed.next(x), resp_feed::status::protocol_error);
  EXPECT_NE(feed.error(), "");
  auto good = message("c", "p");
  EXPECT_FALSE(feed.feed(good.data(), good.size()));
  feed.reset();
  EXPECT_EQ(feed.error(), "");
  auto xs = decode(feed, good);
  ASSERT_EQ(xs.size(), 1u);
  EXPECT_EQ(xs[0].payload, "p");
}

TEST(resp_feed, huge_arrays_are_refused_before_allocation) {
  // hiredis alone would calloc 16 GiB for this header.
  resp_feed feed;
  std::string bytes = "*2147483647\r\n";
  ASSERT_TRUE(feed.feed(bytes.data(), bytes.size()));
  pubsub_event x;
  EXPECT_EQ(feed.next(x), resp_feed::status::protocol_error);
  EXPECT_EQ(feed.error(), "array length out of range (at most 1024 elements)");
  // The bound holds for nested arrays too; up to it, arrays are fine.
  feed.reset();
  auto ok = "*" + std::to_string(resp_feed::max_array_elements) + "\r\n";
  for (int i = 0; i < resp_feed::max_array_elements; ++i)
    ok += ":1\r\n";
  auto xs = decode(feed, ok);
  ASSERT_EQ(xs.size(), 1u);
  EXPECT_EQ(xs[0].type, kind::unexpected);
  feed.reset();
  bytes = "*3\r\n$7\r\nmessage\r\n*1025\r\n";
  ASSERT_TRUE(feed.feed(bytes.data(), bytes.size()));
  EXPECT_EQ(feed.next(x), resp_feed::status::protocol_error);
}

} // namespace
