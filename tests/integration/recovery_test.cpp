// End-to-end: epochs and gap marks (issue 15). A client can tell a restarted
// sequence from a continued one (epoch) and sees where ticks may have been
// lost while Redis was away (gap).

#include "tests/integration/harness.hpp"
#include "tests/integration/node_stats.hpp"

#include <atomic>
#include <thread>

namespace mm::test {
namespace {

class recovery : public server_suite {
protected:
  /// Publishes a tick of `ticker` every `period` on its own connection
  /// until destroyed; counts what it published.
  class feed {
  public:
    feed(uint16_t redis_port, std::string ticker, milliseconds period)
      : thread_([this, redis_port, ticker, period] {
          publisher pub{redis_port};
          while (!stop_) {
            auto n = ++published_;
            pub.publish_tick(ticker, 100.0 + static_cast<double>(n), 1,
                             static_cast<int64_t>(n));
            std::this_thread::sleep_for(period);
          }
        }) {
      // nop
    }
    ~feed() {
      stop();
    }
    void stop() {
      stop_ = true;
      if (thread_.joinable())
        thread_.join();
    }
    uint64_t published() const {
      return published_;
    }

  private:
    std::atomic<bool> stop_{false};
    std::atomic<uint64_t> published_{0};
    std::thread thread_;
  };

  grpc::Status start_resuming(const std::vector<std::string>& tickers,
                              const std::vector<pb::StreamPosition>& from,
                              pb::StartPriceMonitoringResponse* res) {
    pb::StartPriceMonitoringRequest req;
    for (auto& t : tickers)
      req.add_tickers(t);
    for (auto& x : from)
      *req.add_resume_from() = x;
    grpc::ClientContext ctx;
    ctx.set_deadline(deadline_in(default_wait));
    return stub_->StartPriceMonitoring(&ctx, req, res);
  }
};

pb::StreamPosition position(const std::string& ticker,
                            const pb::PriceUpdate& u) {
  pb::StreamPosition x;
  x.set_ticker(ticker);
  x.set_epoch(u.epoch());
  x.set_seq(u.seq());
  return x;
}

TEST_F(recovery, a_new_broadcaster_restarts_seq_in_a_new_epoch) {
  uint64_t first_epoch = 0;
  {
    auto reader = start_stream({"EPA"});
    ASSERT_TRUE(pub_->wait_subscribed("EPA"));
    pub_->publish_tick("EPA", 1.0, 1, 1);
    pub_->publish_tick("EPA", 2.0, 1, 2);
    // CONFLATE may fold the two: wait for the second.
    ASSERT_TRUE(
      reader->wait_update("EPA", [](auto& u) { return u.seq() == 2; }));
    auto ups = reader->updates_of("EPA");
    first_epoch = ups[0].epoch();
    EXPECT_NE(first_epoch, 0u);
    EXPECT_EQ(ups.back().epoch(), first_epoch);
    EXPECT_FALSE(ups[0].gap());
  }
  // The session ends with its stream; the broadcaster lingers out (200 ms).
  ASSERT_TRUE(pub_->wait_unsubscribed("EPA"));
  auto reader = start_stream({"EPA"});
  ASSERT_TRUE(pub_->wait_subscribed("EPA"));
  pub_->publish_tick("EPA", 3.0, 1, 3);
  ASSERT_TRUE(reader->wait_count("EPA", 1));
  auto u = reader->updates_of("EPA").front();
  EXPECT_EQ(u.seq(), 1u);
  EXPECT_NE(u.epoch(), 0u);
  EXPECT_NE(u.epoch(), first_epoch);
}

TEST_F(recovery, max_frequency_limits_each_ticker_and_the_newest_wins) {
  pb::SessionOptions opts;
  opts.set_max_frequency_hz(5);
  auto reader = start_stream({"MFA"}, opts);
  ASSERT_TRUE(pub_->wait_subscribed("MFA"));
  auto started = clock_type::now();
  feed f{redis_->port(), "MFA", milliseconds{2}};
  // Three seconds of a feed of a few hundred ticks per second.
  std::this_thread::sleep_for(milliseconds{3000});
  f.stop();
  auto seconds =
    std::chrono::duration<double>(clock_type::now() - started).count();
  auto last = f.published();
  // The newest value arrives once its ticker may send again.
  ASSERT_TRUE(reader->wait_update(
    "MFA", [&](auto& u) { return u.seq() == last; }, milliseconds{2000}))
    << "the newest tick never arrived";
  auto ups = reader->updates_of("MFA");
  uint64_t covered = 0;
  for (auto& u : ups)
    covered += 1 + u.conflated();
  std::cout << ups.size() << " updates for " << last << " ticks in " << seconds
            << " s" << std::endl;
  EXPECT_GT(last, 300u) << "the feed was too slow to test anything";
  // At most 5 per second (one more for the tail after the feed stopped),
  // and not far below it either.
  EXPECT_LE(ups.size(), static_cast<size_t>(5 * seconds) + 2);
  EXPECT_GE(ups.size(), static_cast<size_t>(5 * seconds * 0.6));
  // Every tick was delivered or counted in `conflated`.
  EXPECT_EQ(covered, last);
}

TEST_F(recovery, max_frequency_with_delivery_mode_all_is_refused) {
  pb::SessionOptions opts;
  opts.set_max_frequency_hz(5);
  opts.set_mode(pb::DELIVERY_MODE_ALL);
  pb::StartPriceMonitoringResponse res;
  auto status = call_start(*stub_, {"MFB"}, opts, &res);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(contains_nocase(status.error_message(), "max_frequency_hz"))
    << status.error_message();
}

TEST_F(recovery, resume_under_a_live_feed_has_no_duplicate_and_no_hole) {
  for (auto mode : {pb::DELIVERY_MODE_ALL, pb::DELIVERY_MODE_CONFLATE}) {
    std::string ticker = mode == pb::DELIVERY_MODE_ALL ? "RSA" : "RSB";
    SCOPED_TRACE(ticker);
    // Keeps the broadcaster (and its history) between the two clients.
    auto keeper = start_stream({ticker});
    ASSERT_TRUE(pub_->wait_subscribed(ticker));
    feed f{redis_->port(), ticker, milliseconds{1}};
    pb::SubscribeRequest req;
    req.add_tickers(ticker);
    req.mutable_options()->set_mode(mode);
    auto first = stream_reader::subscribe(*stub_, req);
    ASSERT_TRUE(first->wait_count(ticker, 20));
    first->cancel();
    first->wait_finished();
    auto seen = first->updates_of(ticker);
    auto from = position(ticker, seen.back());
    // Ticks go on while nobody listens; then resume, with the feed live.
    ASSERT_TRUE(keeper->wait_update(ticker, [&](auto& u) {
      return u.seq() >= from.seq() + 30;
    }));
    *req.add_resume_from() = from;
    auto second = stream_reader::subscribe(*stub_, req);
    ASSERT_TRUE(second->wait_update(
      ticker, [&](auto& u) { return u.seq() >= from.seq() + 200; },
      milliseconds{10000}));
    f.stop();
    auto batches = second->received();
    ASSERT_FALSE(batches.empty());
    ASSERT_EQ(batches[0].recovery_size(), 1) << batches[0].DebugString();
    auto& rec = batches[0].recovery(0);
    EXPECT_EQ(rec.ticker(), ticker);
    EXPECT_TRUE(rec.recovered());
    EXPECT_GE(rec.replayed(), 30u);
    for (size_t i = 1; i < batches.size(); ++i)
      EXPECT_EQ(batches[i].recovery_size(), 0);
    auto got = second->updates_of(ticker);
    uint64_t expect = from.seq() + 1;
    size_t i = 0;
    // The replay: every missed update, in order.
    for (; i < rec.replayed(); ++i, ++expect) {
      ASSERT_LT(i, got.size());
      ASSERT_EQ(got[i].seq(), expect) << "at " << i;
      EXPECT_EQ(got[i].epoch(), from.epoch());
    }
    // Live after it: ALL continues without a hole, CONFLATE may skip
    // (and says so) but never repeats or goes back.
    for (; i < got.size(); ++i) {
      if (mode == pb::DELIVERY_MODE_ALL)
        ASSERT_EQ(got[i].seq(), expect) << "at " << i;
      else
        ASSERT_EQ(got[i].seq(), expect + got[i].conflated()) << "at " << i;
      expect = got[i].seq() + 1;
      EXPECT_EQ(got[i].epoch(), from.epoch());
    }
  }
}

TEST_F(recovery, resume_from_another_epoch_is_not_recovered) {
  auto keeper = start_stream({"RSC"});
  ASSERT_TRUE(pub_->wait_subscribed("RSC"));
  pub_->publish_tick("RSC", 1.0, 1, 1);
  ASSERT_TRUE(keeper->wait_count("RSC", 1));
  auto last = keeper->updates_of("RSC").back();
  pb::StreamPosition stale;
  stale.set_ticker("rsc");
  stale.set_epoch(last.epoch() + 1);
  stale.set_seq(7);
  pb::StartPriceMonitoringResponse res;
  ASSERT_TRUE(start_resuming({"RSC"}, {stale}, &res).ok());
  auto reader = stream_reader::stream(*stub_, res.session_id());
  ASSERT_TRUE(reader->wait_for([](auto& bs) { return !bs.empty(); }));
  auto first = reader->received().front();
  ASSERT_EQ(first.recovery_size(), 1);
  EXPECT_EQ(first.recovery(0).ticker(), "RSC");
  EXPECT_FALSE(first.recovery(0).recovered());
  EXPECT_EQ(first.recovery(0).replayed(), 0u);
  // Without `snapshot` nothing of the old position is sent.
  EXPECT_EQ(first.updates_size(), 0);
}

TEST_F(recovery, a_position_for_a_ticker_not_subscribed_is_invalid) {
  pb::StreamPosition other;
  other.set_ticker("ZZZ");
  other.set_epoch(1);
  other.set_seq(1);
  pb::StartPriceMonitoringResponse res;
  auto status = start_resuming({"RSD"}, {other}, &res);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(contains_nocase(status.error_message(), "ZZZ"))
    << status.error_message();
  pb::SubscribeRequest req;
  req.add_tickers("RSD");
  *req.add_resume_from() = other;
  auto reader = stream_reader::subscribe(*stub_, req);
  auto end = reader->wait_finished();
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(recovery, get_last_prices_reports_feed_health) {
  auto reader = start_stream({"HLA", "HLB"});
  ASSERT_TRUE(pub_->wait_subscribed("HLA"));
  ASSERT_TRUE(pub_->wait_subscribed("HLB"));
  pub_->publish_tick("HLA", 1.0, 1, 1);
  ASSERT_TRUE(reader->wait_count("HLA", 1));
  pb::GetLastPricesResponse last;
  ASSERT_TRUE(call_last(*stub_, {"HLA", "HLB", "HLNONE"}, &last).ok());
  ASSERT_EQ(last.prices_size(), 1);
  EXPECT_NE(last.prices(0).epoch(), 0u);
  ASSERT_EQ(last.health_size(), 2);
  EXPECT_EQ(last.health(0).ticker(), "HLA");
  EXPECT_TRUE(last.health(0).upstream_connected());
  EXPECT_GE(last.health(0).last_tick_age_ms(), 0);
  EXPECT_LT(last.health(0).last_tick_age_ms(), 5000);
  // Tracked, connected, no tick yet.
  EXPECT_EQ(last.health(1).ticker(), "HLB");
  EXPECT_TRUE(last.health(1).upstream_connected());
  EXPECT_EQ(last.health(1).last_tick_age_ms(), -1);
}

TEST_F(recovery, history_is_counted_in_stats) {
  admin_client admin{server_->admin_address()};
  auto reader = start_stream({"HSA"});
  ASSERT_TRUE(pub_->wait_subscribed("HSA"));
  for (int i = 0; i < 3; ++i)
    pub_->publish_tick("HSA", 1.0 + i, 1, 1 + i);
  // CONFLATE may fold them: wait for the third.
  ASSERT_TRUE(reader->wait_update("HSA", [](auto& u) { return u.seq() == 3; }));
  auto stats = admin.stats();
  EXPECT_GE(stats.history_entries, 3) << stats.json;
  EXPECT_GT(stats.history_bytes, 0) << stats.json;
}

TEST(recovery_faults, the_first_update_after_a_redis_reconnect_has_gap) {
  redis_process redis;
  server_process server{redis, {}};
  admin_client admin{server.admin_address()};
  auto stub = make_stub(server.grpc_address());
  pb::SessionOptions all;
  all.set_mode(pb::DELIVERY_MODE_ALL);
  pb::StartPriceMonitoringResponse res1;
  pb::StartPriceMonitoringResponse res2;
  ASSERT_TRUE(call_start(*stub, {"GPA", "GPB"}, {}, &res1).ok());
  ASSERT_TRUE(call_start(*stub, {"GPA", "GPB"}, all, &res2).ok());
  auto conflating = stream_reader::stream(*stub, res1.session_id());
  auto every = stream_reader::stream(*stub, res2.session_id());
  {
    publisher pub{redis.port()};
    ASSERT_TRUE(pub.wait_subscribed("GPA"));
    ASSERT_TRUE(pub.wait_subscribed("GPB"));
    pub.publish_tick("GPA", 10.0, 1, 1);
    pub.publish_tick("GPB", 20.0, 1, 1);
  }
  ASSERT_TRUE(conflating->wait_count("GPB", 1));
  ASSERT_TRUE(every->wait_count("GPB", 1));
  // Feed health per ticker: connected, with a recent tick.
  auto health_of = [&](const std::string& ticker) {
    pb::GetLastPricesResponse last;
    EXPECT_TRUE(call_last(*stub, {ticker}, &last).ok());
    EXPECT_EQ(last.health_size(), 1);
    return last.health_size() == 1 ? last.health(0) : pb::TickerHealth{};
  };
  auto h = health_of("GPA");
  EXPECT_EQ(h.ticker(), "GPA");
  EXPECT_TRUE(h.upstream_connected());
  EXPECT_GE(h.last_tick_age_ms(), 0);
  redis.kill_now();
  ASSERT_TRUE(wait_until([&] { return !admin.stats().redis_connected; }));
  h = health_of("GPA");
  EXPECT_FALSE(h.upstream_connected());
  EXPECT_GE(h.last_tick_age_ms(), 0);
  redis.restart();
  publisher pub{redis.port()};
  ASSERT_TRUE(pub.wait_subscribed("GPA", milliseconds{15000}));
  ASSERT_TRUE(pub.wait_subscribed("GPB", milliseconds{15000}));
  ASSERT_TRUE(wait_until([&] { return admin.stats().redis_connected; }));
  EXPECT_TRUE(
    wait_until([&] { return health_of("GPA").upstream_connected(); }));
  for (int i = 0; i < 3; ++i) {
    pub.publish_tick("GPA", 11.0 + i, 1, 2 + i);
    pub.publish_tick("GPB", 21.0 + i, 1, 2 + i);
    // One at a time, so that CONFLATE cannot fold them.
    auto seq = static_cast<uint64_t>(2 + i);
    for (auto ticker : {"GPA", "GPB"}) {
      ASSERT_TRUE(every->wait_count(ticker, 2 + i));
      ASSERT_TRUE(conflating->wait_update(ticker, [&](auto& u) {
        return u.seq() == seq;
      }));
    }
  }
  for (auto* reader : {conflating.get(), every.get()}) {
    for (auto ticker : {"GPA", "GPB"}) {
      auto ups = reader->updates_of(ticker);
      ASSERT_EQ(ups.size(), 4u) << ticker;
      EXPECT_FALSE(ups[0].gap()) << ticker;
      EXPECT_TRUE(ups[1].gap())
        << ticker << ": no gap mark after Redis came back";
      EXPECT_FALSE(ups[2].gap()) << ticker;
      EXPECT_FALSE(ups[3].gap()) << ticker;
      // The same broadcaster: the same epoch, seq contiguous.
      EXPECT_EQ(ups[1].epoch(), ups[0].epoch());
      EXPECT_EQ(ups[1].seq(), ups[0].seq() + 1);
    }
  }
}

} // namespace
} // namespace mm::test
