// End-to-end: how updates are batched and conflated (CONFLATE vs ALL,
// flush interval, max_batch).

#include "tests/integration/harness.hpp"

#include <map>

namespace mm::test {
namespace {

class delivery_modes : public server_suite {
protected:
  /// Publishes `n` ticks of `ticker` in one pipelined burst: prices
  /// 100 + i, volume i, ts 1000 + i for i in 1..n.
  void burst(const std::string& ticker, int n) {
    std::vector<std::pair<std::string, std::string>> msgs;
    for (int i = 1; i <= n; ++i)
      msgs.emplace_back(ticker, tick_json(100 + i, i, 1000 + i));
    pub_->publish_burst(msgs);
  }
};

/// Checks that CONFLATE delivered the newest of 10 ticks and accounted for
/// every replaced one.
void expect_conflated_ten(stream_reader& reader, const std::string& ticker) {
  ASSERT_TRUE(
    reader.wait_update(ticker, [](auto& u) { return u.seq() == 10; }));
  auto ups = reader.updates_of(ticker);
  uint64_t total = 0;
  for (auto& u : ups)
    total += u.conflated() + 1;
  EXPECT_EQ(total, 10u);
  auto& last = ups.back();
  EXPECT_EQ(last.seq(), 10u);
  EXPECT_EQ(last.price(), 110);
  EXPECT_EQ(last.volume(), 10);
  EXPECT_EQ(last.ts_unix_nanos(), 1010);
  // The burst takes far less than one flush interval, so it is split over
  // two flushes at most.
  EXPECT_LE(ups.size(), 2u);
  if (ups.size() == 1) {
    EXPECT_EQ(last.conflated(), 9u);
  }
}

TEST_F(delivery_modes, conflate_keeps_the_newest_and_counts_the_rest) {
  pb::SessionOptions opts;
  opts.set_flush_interval_ms(200);
  opts.set_mode(pb::DELIVERY_MODE_CONFLATE);
  auto reader = start_stream({"CNF"}, opts);
  ASSERT_TRUE(pub_->wait_subscribed("CNF"));
  burst("CNF", 10);
  expect_conflated_ten(*reader, "CNF");
}

TEST_F(delivery_modes, all_delivers_every_tick_in_order) {
  pb::SessionOptions opts;
  opts.set_flush_interval_ms(200);
  opts.set_mode(pb::DELIVERY_MODE_ALL);
  auto reader = start_stream({"ALL"}, opts);
  ASSERT_TRUE(pub_->wait_subscribed("ALL"));
  burst("ALL", 10);
  ASSERT_TRUE(reader->wait_count("ALL", 10));
  auto ups = reader->updates_of("ALL");
  ASSERT_EQ(ups.size(), 10u);
  for (size_t i = 0; i < ups.size(); ++i) {
    EXPECT_EQ(ups[i].seq(), i + 1);
    EXPECT_EQ(ups[i].price(), 101 + static_cast<double>(i));
    EXPECT_EQ(ups[i].conflated(), 0u);
  }
  // Batched by the flush interval, not one write per tick.
  EXPECT_LE(reader->received().size(), 2u);
}

TEST_F(delivery_modes, max_batch_option_caps_every_batch) {
  pb::SessionOptions opts;
  opts.set_flush_interval_ms(300);
  opts.set_max_batch(2);
  opts.set_mode(pb::DELIVERY_MODE_ALL);
  std::vector<std::string> tickers{"MBA", "MBB", "MBC", "MBD", "MBE"};
  auto reader = start_stream(tickers, opts);
  for (auto& t : tickers)
    ASSERT_TRUE(pub_->wait_subscribed(t));
  std::vector<std::pair<std::string, std::string>> msgs;
  for (int round = 1; round <= 3; ++round)
    for (auto& t : tickers)
      msgs.emplace_back(t, tick_json(round, round, round));
  pub_->publish_burst(msgs);
  for (auto& t : tickers)
    ASSERT_TRUE(reader->wait_count(t, 3, milliseconds{10000})) << t;
  auto bs = reader->received();
  size_t biggest = 0;
  for (auto& b : bs) {
    EXPECT_LE(b.updates_size(), 2) << b.DebugString();
    biggest = std::max(biggest, static_cast<size_t>(b.updates_size()));
  }
  EXPECT_EQ(biggest, 2u) << "ticks were never batched";
  for (auto& t : tickers) {
    auto ups = reader->updates_of(t);
    ASSERT_EQ(ups.size(), 3u) << t;
    for (size_t i = 0; i < ups.size(); ++i)
      EXPECT_EQ(ups[i].seq(), i + 1) << t;
  }
}

TEST_F(delivery_modes, server_max_batch_caps_every_batch) {
  // The shared server runs with --max-batch 50.
  pb::SessionOptions opts;
  opts.set_flush_interval_ms(300);
  opts.set_mode(pb::DELIVERY_MODE_ALL);
  auto reader = start_stream({"SMB"}, opts);
  ASSERT_TRUE(pub_->wait_subscribed("SMB"));
  burst("SMB", 120);
  ASSERT_TRUE(reader->wait_count("SMB", 120, milliseconds{10000}));
  size_t biggest = 0;
  for (auto& b : reader->received()) {
    EXPECT_LE(b.updates_size(), 50);
    biggest = std::max(biggest, static_cast<size_t>(b.updates_size()));
  }
  EXPECT_EQ(biggest, 50u);
  auto ups = reader->updates_of("SMB");
  for (size_t i = 0; i < ups.size(); ++i)
    EXPECT_EQ(ups[i].seq(), i + 1);
}

TEST(delivery_modes_server, server_default_flush_interval_applies) {
  redis_process redis;
  server_process server{redis, {"--flush-interval-ms", "200"}};
  auto stub = make_stub(server.grpc_address());
  publisher pub{redis.port()};
  pb::StartPriceMonitoringResponse res;
  auto status = call_start(*stub, {"DFL"}, {}, &res);
  ASSERT_TRUE(status.ok()) << describe(status);
  auto reader = stream_reader::stream(*stub, res.session_id());
  ASSERT_TRUE(pub.wait_subscribed("DFL"));
  std::vector<std::pair<std::string, std::string>> msgs;
  for (int i = 1; i <= 10; ++i)
    msgs.emplace_back("DFL", tick_json(100 + i, i, 1000 + i));
  pub.publish_burst(msgs);
  expect_conflated_ten(*reader, "DFL");
}

} // namespace
} // namespace mm::test
