// End-to-end: the last known update of a ticker is served to new sessions
// that ask for a snapshot and to GetLastPrices.

#include "tests/integration/harness.hpp"

#include <map>

namespace mm::test {
namespace {

class snapshot : public server_suite {
protected:
  /// Starts a session on `ticker` (it keeps the broadcaster alive) and
  /// publishes one tick that it receives.
  std::unique_ptr<stream_reader> follow_with_tick(const std::string& ticker,
                                                  double price, int64_t volume,
                                                  int64_t ts) {
    auto reader = start_stream({ticker});
    EXPECT_TRUE(pub_->wait_subscribed(ticker));
    pub_->publish_tick(ticker, price, volume, ts);
    EXPECT_TRUE(reader->wait_count(ticker, 1));
    return reader;
  }
};

TEST_F(snapshot, start_with_snapshot_gets_the_last_price_first) {
  auto keeper = follow_with_tick("SNPA", 101.5, 300, 1763800000000000001);
  pub_->publish_tick("SNPA", 102.75, 400, 1763800000000000002);
  ASSERT_TRUE(keeper->wait_count("SNPA", 2));
  pb::SessionOptions opts;
  opts.set_snapshot(true);
  auto reader = start_stream({"SNPA", "SNPNONE"}, opts);
  ASSERT_TRUE(reader->wait_for([](auto& bs) { return !bs.empty(); }));
  auto first = reader->received().front();
  EXPECT_TRUE(first.snapshot());
  EXPECT_EQ(first.batch_seq(), 1u);
  ASSERT_EQ(first.updates_size(), 1) << first.DebugString();
  auto& u = first.updates(0);
  EXPECT_EQ(u.ticker(), "SNPA");
  EXPECT_EQ(u.price(), 102.75);
  EXPECT_EQ(u.volume(), 400);
  EXPECT_EQ(u.ts_unix_nanos(), 1763800000000000002);
  EXPECT_EQ(u.seq(), 2u);
  // Live ticks follow as ordinary batches.
  pub_->publish_tick("SNPA", 103, 1, 3);
  ASSERT_TRUE(
    reader->wait_update("SNPA", [](auto& x) { return x.seq() == 3; }));
  auto bs = reader->received();
  for (size_t i = 1; i < bs.size(); ++i) {
    EXPECT_FALSE(bs[i].snapshot());
    EXPECT_EQ(bs[i].batch_seq(), i + 1);
  }
}

TEST_F(snapshot, without_snapshot_the_last_price_is_not_sent) {
  auto keeper = follow_with_tick("SNPB", 7, 1, 1);
  auto reader = start_stream({"SNPB"});
  pub_->publish_tick("SNPB", 8, 1, 2);
  ASSERT_TRUE(reader->wait_count("SNPB", 1));
  auto ups = reader->updates_of("SNPB");
  EXPECT_EQ(ups.front().seq(), 2u);
  EXPECT_EQ(ups.front().price(), 8);
  EXPECT_FALSE(reader->received().front().snapshot());
}

TEST_F(snapshot, subscribe_with_snapshot_gets_the_last_price_first) {
  auto keeper = follow_with_tick("SNPC", 55.5, 12, 77);
  pb::SubscribeRequest req;
  req.add_tickers("snpc");
  req.mutable_options()->set_snapshot(true);
  auto reader = stream_reader::subscribe(*stub_, req);
  ASSERT_TRUE(reader->wait_for([](auto& bs) { return !bs.empty(); }));
  auto first = reader->received().front();
  EXPECT_TRUE(first.snapshot());
  EXPECT_EQ(first.batch_seq(), 1u);
  ASSERT_EQ(first.updates_size(), 1) << first.DebugString();
  EXPECT_EQ(first.updates(0).ticker(), "SNPC");
  EXPECT_EQ(first.updates(0).price(), 55.5);
  EXPECT_EQ(first.updates(0).volume(), 12);
  EXPECT_EQ(first.updates(0).ts_unix_nanos(), 77);
  EXPECT_EQ(first.updates(0).seq(), 1u);
}

TEST_F(snapshot, get_last_prices_returns_known_tickers_only) {
  auto a = follow_with_tick("LPA", 10.5, 5, 111);
  auto b = follow_with_tick("LPB", 20.25, 6, 222);
  pub_->publish_tick("LPB", 21.25, 7, 333);
  ASSERT_TRUE(b->wait_count("LPB", 2));
  pb::GetLastPricesResponse res;
  auto status = call_last(*stub_, {"lpa", " LPB", "LPUNKNOWN"}, &res);
  ASSERT_TRUE(status.ok()) << describe(status);
  ASSERT_EQ(res.prices_size(), 2) << res.DebugString();
  std::map<std::string, pb::PriceUpdate> by_ticker;
  for (auto& p : res.prices())
    by_ticker[p.ticker()] = p;
  ASSERT_EQ(by_ticker.count("LPA"), 1u);
  ASSERT_EQ(by_ticker.count("LPB"), 1u);
  EXPECT_EQ(by_ticker["LPA"].price(), 10.5);
  EXPECT_EQ(by_ticker["LPA"].volume(), 5);
  EXPECT_EQ(by_ticker["LPA"].ts_unix_nanos(), 111);
  EXPECT_EQ(by_ticker["LPA"].seq(), 1u);
  EXPECT_EQ(by_ticker["LPB"].price(), 21.25);
  EXPECT_EQ(by_ticker["LPB"].volume(), 7);
  EXPECT_EQ(by_ticker["LPB"].ts_unix_nanos(), 333);
  EXPECT_EQ(by_ticker["LPB"].seq(), 2u);
}

TEST_F(snapshot, get_last_prices_rejects_a_bad_ticker) {
  pb::GetLastPricesResponse res;
  auto status = call_last(*stub_, {"LPA", "A B"}, &res);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
    << describe(status);
  EXPECT_TRUE(contains_nocase(status.error_message(), "A B"))
    << status.error_message();
}

} // namespace
} // namespace mm::test
