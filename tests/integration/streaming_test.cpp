// End-to-end: a session started over gRPC receives the ticks published on
// Redis, and only those of its tickers, until it ends.

#include "tests/integration/harness.hpp"

#include <set>

namespace mm::test {
namespace {

class streaming : public server_suite {};

/// Checks that `batch_seq` counts the batches from 1 without gaps.
void expect_batch_seq_from_one(const stream_reader::batches& bs) {
  for (size_t i = 0; i < bs.size(); ++i)
    EXPECT_EQ(bs[i].batch_seq(), i + 1) << "batch " << i;
}

TEST_F(streaming, start_returns_an_id_and_the_normalized_ticker_set) {
  auto res = start({" nrma", "NRMA", "nrmb "});
  EXPECT_EQ(res.session_id().size(), 36u) << res.session_id();
  EXPECT_TRUE(is_uuid(res.session_id())) << res.session_id();
  EXPECT_EQ(to_vector(res.tickers()),
            (std::vector<std::string>{"NRMA", "NRMB"}));
  auto other = start({"NRMA"});
  EXPECT_NE(other.session_id(), res.session_id());
  EXPECT_TRUE(call_stop(*stub_, res.session_id()).ok());
  EXPECT_TRUE(call_stop(*stub_, other.session_id()).ok());
}

TEST_F(streaming, stream_passes_ticks_through_with_seq) {
  auto reader = start_stream({"PASS"});
  ASSERT_TRUE(pub_->wait_subscribed("PASS"));
  EXPECT_EQ(pub_->publish_tick("PASS", 189.25, 100, 1763800000123456789), 1);
  ASSERT_TRUE(reader->wait_count("PASS", 1));
  EXPECT_EQ(pub_->publish_tick("PASS", 190.5, 7, 1763800000223456789), 1);
  ASSERT_TRUE(reader->wait_count("PASS", 2));
  auto ups = reader->updates_of("PASS");
  ASSERT_EQ(ups.size(), 2u);
  EXPECT_EQ(ups[0].price(), 189.25);
  EXPECT_EQ(ups[0].volume(), 100);
  EXPECT_EQ(ups[0].ts_unix_nanos(), 1763800000123456789);
  EXPECT_EQ(ups[0].seq(), 1u);
  EXPECT_EQ(ups[0].conflated(), 0u);
  EXPECT_EQ(ups[1].price(), 190.5);
  EXPECT_EQ(ups[1].volume(), 7);
  EXPECT_EQ(ups[1].ts_unix_nanos(), 1763800000223456789);
  EXPECT_EQ(ups[1].seq(), 2u);
  auto bs = reader->received();
  expect_batch_seq_from_one(bs);
  for (auto& b : bs)
    EXPECT_FALSE(b.snapshot());
  EXPECT_FALSE(reader->finished());
}

TEST_F(streaming, tick_without_ts_gets_the_receive_time) {
  auto reader = start_stream({"NOTS"});
  ASSERT_TRUE(pub_->wait_subscribed("NOTS"));
  auto before = std::chrono::duration_cast<std::chrono::nanoseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  pub_->publish("NOTS", R"({"price": 12.5})");
  ASSERT_TRUE(reader->wait_count("NOTS", 1));
  auto after = std::chrono::duration_cast<std::chrono::nanoseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  auto u = reader->updates_of("NOTS").at(0);
  EXPECT_EQ(u.price(), 12.5);
  EXPECT_EQ(u.volume(), 0);
  EXPECT_GE(u.ts_unix_nanos(), before);
  EXPECT_LE(u.ts_unix_nanos(), after);
}

TEST_F(streaming, ticks_of_other_tickers_never_arrive) {
  auto reader = start_stream({"MINE"});
  // A second session keeps OTHR's channel subscribed, so its ticks do
  // reach the server and would be visible if routed wrongly.
  auto witness = start_stream({"OTHR"});
  ASSERT_TRUE(pub_->wait_subscribed("MINE"));
  ASSERT_TRUE(pub_->wait_subscribed("OTHR"));
  pub_->publish_tick("OTHR", 5, 1, 1);
  pub_->publish_tick("MINE", 6, 1, 2);
  ASSERT_TRUE(reader->wait_count("MINE", 1));
  ASSERT_TRUE(witness->wait_count("OTHR", 1));
  for (auto& u : reader->updates())
    EXPECT_EQ(u.ticker(), "MINE");
  for (auto& u : witness->updates())
    EXPECT_EQ(u.ticker(), "OTHR");
}

TEST_F(streaming, fan_out_to_many_sessions) {
  constexpr size_t n = 50;
  std::vector<std::unique_ptr<stream_reader>> readers;
  for (size_t i = 0; i < n; ++i)
    readers.push_back(start_stream({"FANO"}));
  ASSERT_TRUE(pub_->wait_subscribed("FANO"));
  pub_->publish_tick("FANO", 42.125, 9, 1000);
  pub_->publish_tick("FANO", 42.25, 10, 2000);
  for (size_t i = 0; i < n; ++i) {
    ASSERT_TRUE(
      readers[i]->wait_update("FANO", [](auto& u) { return u.seq() == 2; }))
      << "session " << i;
    auto ups = readers[i]->updates_of("FANO");
    auto& last = ups.back();
    EXPECT_EQ(last.seq(), 2u);
    EXPECT_EQ(last.price(), 42.25);
    EXPECT_EQ(last.volume(), 10);
    EXPECT_EQ(last.ts_unix_nanos(), 2000);
    // Either both ticks, or the first conflated into the second.
    uint64_t total = 0;
    for (auto& u : ups)
      total += u.conflated() + 1;
    EXPECT_EQ(total, 2u) << "session " << i;
    if (ups.size() == 2) {
      EXPECT_EQ(ups[0].seq(), 1u);
      EXPECT_EQ(ups[0].price(), 42.125);
    }
  }
}

TEST_F(streaming, update_subscription_changes_what_arrives) {
  std::string id;
  auto reader = start_stream({"UPA"}, {}, &id);
  ASSERT_TRUE(pub_->wait_subscribed("UPA"));
  pub_->publish_tick("UPA", 1, 1, 1);
  ASSERT_TRUE(reader->wait_count("UPA", 1));
  pb::UpdateSubscriptionResponse res;
  auto status = call_update(*stub_, id, {" upb"}, {"upa"}, &res);
  ASSERT_TRUE(status.ok()) << describe(status);
  EXPECT_EQ(to_vector(res.tickers()), (std::vector<std::string>{"UPB"}));
  ASSERT_TRUE(pub_->wait_subscribed("UPB"));
  // A witness keeps UPA's channel alive so its ticks reach the server.
  auto witness = start_stream({"UPA"});
  ASSERT_TRUE(pub_->wait_subscribed("UPA"));
  pub_->publish_tick("UPA", 2, 1, 2);
  pub_->publish_tick("UPB", 3, 1, 3);
  ASSERT_TRUE(reader->wait_count("UPB", 1));
  ASSERT_TRUE(
    witness->wait_update("UPA", [](auto& u) { return u.price() == 2; }));
  EXPECT_EQ(reader->updates_of("UPA").size(), 1u);
  // Adding it back brings UPA's ticks again.
  res.Clear();
  status = call_update(*stub_, id, {"UPA"}, {}, &res);
  ASSERT_TRUE(status.ok()) << describe(status);
  EXPECT_EQ(to_vector(res.tickers()), (std::vector<std::string>{"UPA", "UPB"}));
  pub_->publish_tick("UPA", 4, 1, 4);
  ASSERT_TRUE(
    reader->wait_update("UPA", [](auto& u) { return u.price() == 4; }));
  auto upa = reader->updates_of("UPA");
  EXPECT_EQ(upa.back().seq(), 3u);
}

TEST_F(streaming, stop_ends_the_stream_ok_and_forgets_the_id) {
  std::string id;
  auto reader = start_stream({"STOP"}, {}, &id);
  ASSERT_TRUE(pub_->wait_subscribed("STOP"));
  pub_->publish_tick("STOP", 1, 1, 1);
  ASSERT_TRUE(reader->wait_count("STOP", 1));
  auto status = call_stop(*stub_, id);
  ASSERT_TRUE(status.ok()) << describe(status);
  auto end = reader->wait_finished();
  ASSERT_TRUE(end.has_value()) << "the stream did not end after Stop";
  EXPECT_EQ(end->error_code(), grpc::StatusCode::OK) << describe(*end);
  // The id is gone for every RPC.
  status = call_stop(*stub_, id);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND)
    << describe(status);
  pb::UpdateSubscriptionResponse res;
  status = call_update(*stub_, id, {"STOQ"}, {}, &res);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND)
    << describe(status);
  auto again = stream_reader::stream(*stub_, id);
  auto again_end = again->wait_finished();
  ASSERT_TRUE(again_end.has_value());
  EXPECT_EQ(again_end->error_code(), grpc::StatusCode::NOT_FOUND)
    << describe(*again_end);
  // With its only session gone the broadcaster lingers, then ends, and the
  // listener leaves the channel.
  EXPECT_TRUE(pub_->wait_unsubscribed("STOP"));
}

TEST_F(streaming, second_stream_is_refused_and_the_first_keeps_working) {
  std::string id;
  auto first = start_stream({"TWO"}, {}, &id);
  ASSERT_TRUE(pub_->wait_subscribed("TWO"));
  pub_->publish_tick("TWO", 1, 1, 1);
  ASSERT_TRUE(first->wait_count("TWO", 1));
  auto second = stream_reader::stream(*stub_, id);
  auto end = second->wait_finished();
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->error_code(), grpc::StatusCode::FAILED_PRECONDITION)
    << describe(*end);
  EXPECT_TRUE(second->received().empty());
  pub_->publish_tick("TWO", 2, 1, 2);
  ASSERT_TRUE(first->wait_update("TWO", [](auto& u) { return u.seq() == 2; }));
  EXPECT_FALSE(first->finished());
}

TEST_F(streaming, subscribe_delivers_until_the_client_cancels) {
  pb::SubscribeRequest req;
  req.add_tickers("subs");
  req.mutable_options()->set_mode(pb::DELIVERY_MODE_ALL);
  auto reader = stream_reader::subscribe(*stub_, req);
  // No id comes back before the stream, so publish until the first tick
  // shows the session is subscribed, then check continuity from there.
  int64_t ts = 1;
  ASSERT_TRUE(wait_until([&] {
    pub_->publish_tick("SUBS", 10, 1, ts++);
    return reader->wait_count("SUBS", 1, milliseconds{20});
  }));
  for (int i = 0; i < 3; ++i)
    pub_->publish_tick("SUBS", 20 + i, 1, 1000 + i);
  ASSERT_TRUE(
    reader->wait_update("SUBS", [](auto& u) { return u.price() == 22; }));
  auto ups = reader->updates_of("SUBS");
  for (size_t i = 1; i < ups.size(); ++i)
    EXPECT_EQ(ups[i].seq(), ups[i - 1].seq() + 1) << "update " << i;
  EXPECT_EQ(ups.back().price(), 22);
  EXPECT_EQ(ups.back().ts_unix_nanos(), 1002);
  expect_batch_seq_from_one(reader->received());
  reader->cancel();
  auto end = reader->wait_finished();
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->error_code(), grpc::StatusCode::CANCELLED);
  // The session ended with its stream: its broadcaster lost its last
  // subscriber, lingered and ended, so nobody listens on the channel.
  EXPECT_TRUE(pub_->wait_unsubscribed("SUBS"));
}

TEST_F(streaming, malformed_ticks_do_not_end_the_stream) {
  pb::SessionOptions opts;
  opts.set_mode(pb::DELIVERY_MODE_ALL);
  auto reader = start_stream({"BAD"}, opts);
  ASSERT_TRUE(pub_->wait_subscribed("BAD"));
  pub_->publish_tick("BAD", 1.5, 1, 1);
  pub_->publish("BAD", "not json");
  pub_->publish("BAD", R"({"price":-1})");
  pub_->publish("BAD", R"({"price":0})");
  pub_->publish("BAD", R"({"volume":5})");
  pub_->publish("BAD", R"({"price":1,"ticker":"OTHER"})");
  pub_->publish("BAD", R"([1,2,3])");
  pub_->publish_tick("BAD", 2.5, 2, 2);
  ASSERT_TRUE(reader->wait_count("BAD", 2));
  pub_->publish("BAD", "{");
  pub_->publish("BAD", R"({"price":"abc"})");
  pub_->publish_tick("BAD", 3.5, 3, 3);
  ASSERT_TRUE(reader->wait_count("BAD", 3));
  auto ups = reader->updates_of("BAD");
  ASSERT_EQ(ups.size(), 3u);
  for (size_t i = 0; i < ups.size(); ++i) {
    EXPECT_EQ(ups[i].seq(), i + 1);
    EXPECT_EQ(ups[i].price(), 1.5 + static_cast<double>(i));
    EXPECT_EQ(ups[i].ts_unix_nanos(), static_cast<int64_t>(i + 1));
  }
  EXPECT_FALSE(reader->finished());
}

} // namespace
} // namespace mm::test
