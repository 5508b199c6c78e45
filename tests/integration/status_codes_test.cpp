// End-to-end: every refusal comes back with the status code of docs/api.md
// and a message that names the problem.

#include "tests/integration/harness.hpp"
#include "tests/integration/node_stats.hpp"

namespace mm::test {
namespace {

class status_codes : public server_suite {
protected:
  /// Expects Start to fail with INVALID_ARGUMENT and a message containing
  /// `word` (case-insensitive).
  void expect_invalid_start(const std::vector<std::string>& tickers,
                            const pb::SessionOptions& opts,
                            const std::string& word) {
    pb::StartPriceMonitoringResponse res;
    auto status = call_start(*stub_, tickers, opts, &res);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << describe(status);
    EXPECT_TRUE(contains_nocase(status.error_message(), word))
      << "message '" << status.error_message() << "' does not mention '" << word
      << "'";
  }
};

constexpr const char* unknown_id = "1b4e28ba-2fa1-41d2-883f-0016d3cca427";

TEST_F(status_codes, start_without_tickers_is_invalid) {
  expect_invalid_start({}, {}, "ticker");
}

TEST_F(status_codes, malformed_tickers_are_invalid) {
  expect_invalid_start({"AAPL", "AA PL"}, {}, "AA PL");
  expect_invalid_start({"AAPL", ""}, {}, "ticker");
  expect_invalid_start({"   "}, {}, "ticker");
  expect_invalid_start({"ABCDEFGHIJKLMNOPQ"}, {}, "ABCDEFGHIJKLMNOPQ");
  expect_invalid_start({"-X"}, {}, "-X");
  expect_invalid_start({".X"}, {}, ".X");
  expect_invalid_start({"AA$"}, {}, "AA$");
}

TEST_F(status_codes, longest_and_special_tickers_are_valid) {
  auto res = start({"ABCDEFGHIJKLMNOP", "brk.b", "BF-B", "0X"});
  EXPECT_EQ(to_vector(res.tickers()),
            (std::vector<std::string>{"0X", "ABCDEFGHIJKLMNOP", "BF-B",
                                      "BRK.B"}));
  EXPECT_TRUE(call_stop(*stub_, res.session_id()).ok());
}

TEST_F(status_codes, bad_options_are_invalid) {
  pb::SessionOptions mode;
  mode.set_mode(static_cast<pb::DeliveryMode>(7));
  expect_invalid_start({"OPT"}, mode, "mode");
  // The shared server runs with --max-batch 50.
  pb::SessionOptions batch;
  batch.set_max_batch(51);
  expect_invalid_start({"OPT"}, batch, "batch");
  pb::SessionOptions ok_batch;
  ok_batch.set_max_batch(50);
  auto res = start({"OPT"}, ok_batch);
  EXPECT_TRUE(call_stop(*stub_, res.session_id()).ok());
}

TEST_F(status_codes, subscribe_with_a_bad_ticker_is_invalid) {
  pb::SubscribeRequest req;
  req.add_tickers("GOOD");
  req.add_tickers("BA D");
  auto reader = stream_reader::subscribe(*stub_, req);
  auto end = reader->wait_finished();
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->error_code(), grpc::StatusCode::INVALID_ARGUMENT)
    << describe(*end);
  EXPECT_TRUE(contains_nocase(end->error_message(), "BA D"))
    << end->error_message();
  pb::SubscribeRequest none;
  auto empty = stream_reader::subscribe(*stub_, none);
  end = empty->wait_finished();
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->error_code(), grpc::StatusCode::INVALID_ARGUMENT)
    << describe(*end);
}

TEST_F(status_codes, update_with_a_bad_ticker_is_invalid_and_harmless) {
  std::string id;
  auto reader = start_stream({"UBAD"}, {}, &id);
  pb::UpdateSubscriptionResponse res;
  auto status = call_update(*stub_, id, {"NO GOOD"}, {}, &res);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
    << describe(status);
  EXPECT_TRUE(contains_nocase(status.error_message(), "NO GOOD"))
    << status.error_message();
  // The session still runs with its tickers unchanged.
  ASSERT_TRUE(pub_->wait_subscribed("UBAD"));
  pub_->publish_tick("UBAD", 3, 3, 3);
  ASSERT_TRUE(reader->wait_count("UBAD", 1));
  res.Clear();
  status = call_update(*stub_, id, {"UBAD"}, {}, &res);
  ASSERT_TRUE(status.ok()) << describe(status);
  EXPECT_EQ(to_vector(res.tickers()), (std::vector<std::string>{"UBAD"}));
}

TEST_F(status_codes, oversized_request_is_resource_exhausted) {
  // 8,000 tickers of 16 characters: about 144 KB, over the 64 KiB default.
  std::vector<std::string> tickers;
  for (int i = 0; i < 8000; ++i) {
    auto n = std::to_string(i);
    tickers.push_back("T" + std::string(15 - n.size(), '0') + n);
  }
  pb::StartPriceMonitoringResponse res;
  auto status = call_start(*stub_, tickers, {}, &res);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
    << describe(status);
  EXPECT_TRUE(contains_nocase(status.error_message(), "larger than max"))
    << status.error_message();
  // The server is unharmed.
  EXPECT_TRUE(call_start(*stub_, {"AAPL"}, {}, &res).ok());
  EXPECT_TRUE(call_stop(*stub_, res.session_id()).ok());
}

TEST_F(status_codes, unknown_session_id_is_not_found) {
  auto status = call_stop(*stub_, unknown_id);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND)
    << describe(status);
  pb::UpdateSubscriptionResponse res;
  status = call_update(*stub_, unknown_id, {"AAPL"}, {}, &res);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND)
    << describe(status);
  auto reader = stream_reader::stream(*stub_, unknown_id);
  auto end = reader->wait_finished();
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->error_code(), grpc::StatusCode::NOT_FOUND) << describe(*end);
}

// --- servers with special limits ---------------------------------------------

TEST(status_codes_limits, more_tickers_than_the_session_limit_is_invalid) {
  redis_process redis;
  server_process server{redis, {"--max-tickers-per-session", "3"}};
  auto stub = make_stub(server.grpc_address());
  pb::StartPriceMonitoringResponse res;
  auto status = call_start(*stub, {"T1", "T2", "T3", "T4"}, {}, &res);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
    << describe(status);
  EXPECT_TRUE(contains_nocase(status.error_message(), "3"))
    << "message does not name the limit: " << status.error_message();
  // Duplicates are folded before the limit applies.
  status = call_start(*stub, {"T1", "t1", "T2", "T3"}, {}, &res);
  ASSERT_TRUE(status.ok()) << describe(status);
  EXPECT_EQ(res.tickers_size(), 3);
  pb::UpdateSubscriptionResponse upd;
  status = call_update(*stub, res.session_id(), {"T4"}, {}, &upd);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
    << describe(status);
  status = call_update(*stub, res.session_id(), {"T4"}, {"T1"}, &upd);
  EXPECT_TRUE(status.ok()) << describe(status);
  EXPECT_EQ(to_vector(upd.tickers()),
            (std::vector<std::string>{"T2", "T3", "T4"}));
  pb::SubscribeRequest req;
  for (auto t : {"S1", "S2", "S3", "S4"})
    req.add_tickers(t);
  auto reader = stream_reader::subscribe(*stub, req);
  auto end = reader->wait_finished();
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->error_code(), grpc::StatusCode::INVALID_ARGUMENT)
    << describe(*end);
}

TEST(status_codes_limits, node_session_limit_is_resource_exhausted) {
  redis_process redis;
  server_process server{redis, {"--max-sessions", "2"}};
  auto stub = make_stub(server.grpc_address());
  pb::StartPriceMonitoringResponse a;
  pb::StartPriceMonitoringResponse b;
  pb::StartPriceMonitoringResponse c;
  ASSERT_TRUE(call_start(*stub, {"LIM"}, {}, &a).ok());
  ASSERT_TRUE(call_start(*stub, {"LIM"}, {}, &b).ok());
  auto status = call_start(*stub, {"LIM"}, {}, &c);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
    << describe(status);
  EXPECT_TRUE(contains_nocase(status.error_message(), "session"))
    << status.error_message();
  pb::SubscribeRequest req;
  req.add_tickers("LIM");
  auto reader = stream_reader::subscribe(*stub, req);
  auto end = reader->wait_finished();
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
    << describe(*end);
  // An ended session frees its place.
  ASSERT_TRUE(call_stop(*stub, a.session_id()).ok());
  EXPECT_TRUE(wait_until([&] {
    c.Clear();
    return call_start(*stub, {"LIM"}, {}, &c).ok();
  }))
    << "the stopped session's place was never freed";
}

TEST(status_codes_limits, unattached_session_expires) {
  redis_process redis;
  server_process server{redis, {"--attach-timeout-ms", "300"}};
  auto stub = make_stub(server.grpc_address());
  pb::StartPriceMonitoringResponse lone;
  ASSERT_TRUE(call_start(*stub, {"EXP"}, {}, &lone).ok());
  auto started = clock_type::now();
  // A session that does attach is not affected by the timeout.
  pb::StartPriceMonitoringResponse kept;
  ASSERT_TRUE(call_start(*stub, {"EXP"}, {}, &kept).ok());
  auto reader = stream_reader::stream(*stub, kept.session_id());
  // Poll without attaching until the lone session is gone.
  ASSERT_TRUE(wait_until([&] {
    pb::UpdateSubscriptionResponse res;
    auto status = call_update(*stub, lone.session_id(), {"EXP"}, {}, &res);
    return status.error_code() == grpc::StatusCode::NOT_FOUND;
  }))
    << "the unattached session never expired";
  auto waited = clock_type::now() - started;
  EXPECT_GE(waited, milliseconds{250}) << "expired before the timeout";
  auto late = stream_reader::stream(*stub, lone.session_id());
  auto end = late->wait_finished();
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->error_code(), grpc::StatusCode::NOT_FOUND) << describe(*end);
  // Well past the attach timeout the attached session still delivers.
  publisher pub{redis.port()};
  ASSERT_TRUE(pub.wait_subscribed("EXP"));
  pub.publish_tick("EXP", 1, 1, 1);
  EXPECT_TRUE(reader->wait_count("EXP", 1));
  EXPECT_FALSE(reader->finished());
}

TEST(status_codes_limits, slow_consumer_in_all_mode_is_evicted) {
  redis_process redis;
  server_process server{redis, {"--max-pending", "5"}};
  auto stub = make_stub(server.grpc_address());
  publisher pub{redis.port()};
  pb::SessionOptions all;
  all.set_mode(pb::DELIVERY_MODE_ALL);
  pb::StartPriceMonitoringResponse slow;
  ASSERT_TRUE(call_start(*stub, {"SLOW"}, all, &slow).ok());
  // The call is open but the client never reads: flow control stalls the
  // server's writes and the ALL queue overflows.
  auto stalled = stream_reader::stream(*stub, slow.session_id(), true);
  // A CONFLATE session on the same ticker whose client reads is never
  // evicted: its pending buffer holds one update per ticker.
  pb::StartPriceMonitoringResponse fast;
  ASSERT_TRUE(call_start(*stub, {"SLOW"}, {}, &fast).ok());
  auto reader = stream_reader::stream(*stub, fast.session_id());
  ASSERT_TRUE(pub.wait_subscribed("SLOW"));
  // Both streams attached before the burst: an ALL session still waiting
  // for its stream buffers within the same bound and would be evicted
  // before it attached (its stream then finds no session: NOT_FOUND).
  admin_client admin{server.admin_address()};
  ASSERT_TRUE(wait_until([&] { return admin.stats().streams == 2; }))
    << admin.stats().describe();
  int64_t n = 0;
  for (int round = 0; round < 10; ++round) {
    std::vector<std::pair<std::string, std::string>> msgs;
    for (int i = 0; i < 2000; ++i) {
      ++n;
      msgs.emplace_back("SLOW", R"({"price": 1.5, "volume": )"
                                  + std::to_string(n) + R"(, "ts": )"
                                  + std::to_string(n) + "}");
    }
    pub.publish_burst(msgs);
  }
  ASSERT_TRUE(reader->wait_update(
    "SLOW", [&](auto& u) { return u.ts_unix_nanos() == n; },
    milliseconds{20000}))
    << "the reading session fell behind";
  stalled->resume();
  auto end = stalled->wait_finished(milliseconds{10000});
  ASSERT_TRUE(end.has_value()) << "the stalled ALL session was not evicted";
  EXPECT_EQ(end->error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
    << describe(*end);
  EXPECT_FALSE(end->error_message().empty());
  // What it did get before the eviction was in order, without gaps.
  auto ups = stalled->updates_of("SLOW");
  for (size_t i = 1; i < ups.size(); ++i)
    ASSERT_EQ(ups[i].seq(), ups[i - 1].seq() + 1) << "update " << i;
  EXPECT_FALSE(reader->finished());
  auto status = call_stop(*stub, slow.session_id());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND)
    << describe(status);
}

} // namespace
} // namespace mm::test
