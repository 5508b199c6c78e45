// End-to-end: SIGTERM ends every open stream with UNAVAILABLE and the
// process exits cleanly within --shutdown-timeout-ms.

#include "tests/integration/harness.hpp"

#include <signal.h>
#include <sys/wait.h>

namespace mm::test {
namespace {

TEST(shutdown, sigterm_ends_every_stream_unavailable_and_exits_zero) {
  constexpr int timeout_ms = 2000;
  redis_process redis;
  server_process server{redis,
                        {"--shutdown-timeout-ms", std::to_string(timeout_ms)}};
  auto stub = make_stub(server.grpc_address());
  publisher pub{redis.port()};
  std::vector<std::unique_ptr<stream_reader>> readers;
  for (int i = 0; i < 3; ++i) {
    pb::StartPriceMonitoringResponse res;
    auto status = call_start(*stub, {"DOWN"}, {}, &res);
    ASSERT_TRUE(status.ok()) << describe(status);
    readers.push_back(stream_reader::stream(*stub, res.session_id()));
  }
  for (int i = 0; i < 2; ++i) {
    pb::SubscribeRequest req;
    req.add_tickers("DOWN");
    readers.push_back(stream_reader::subscribe(*stub, req));
  }
  // One client that does not read what it is sent.
  pb::SubscribeRequest req;
  req.add_tickers("DOWN");
  req.mutable_options()->set_mode(pb::DELIVERY_MODE_ALL);
  auto stalled = stream_reader::subscribe(*stub, req, true);
  // A started session without a stream must not hold up the exit either.
  pb::StartPriceMonitoringResponse idle;
  ASSERT_TRUE(call_start(*stub, {"DOWN"}, {}, &idle).ok());
  // Every stream is live once it has delivered a tick.
  ASSERT_TRUE(pub.wait_subscribed("DOWN"));
  int64_t ts = 0;
  ASSERT_TRUE(wait_until([&] {
    pub.publish_tick("DOWN", 1, 1, ++ts);
    for (auto& r : readers)
      if (!r->wait_count("DOWN", 1, milliseconds{10}))
        return false;
    return true;
  }))
    << "not every stream received a tick";
  auto signalled = clock_type::now();
  server.send_signal(SIGTERM);
  for (size_t i = 0; i < readers.size(); ++i) {
    auto end = readers[i]->wait_finished(milliseconds{timeout_ms + 3000});
    ASSERT_TRUE(end.has_value()) << "stream " << i << " hangs after SIGTERM";
    EXPECT_EQ(end->error_code(), grpc::StatusCode::UNAVAILABLE)
      << "stream " << i << ": " << describe(*end);
  }
  stalled->resume();
  auto end = stalled->wait_finished(milliseconds{timeout_ms + 3000});
  ASSERT_TRUE(end.has_value()) << "the stalled stream hangs after SIGTERM";
  EXPECT_EQ(end->error_code(), grpc::StatusCode::UNAVAILABLE) << describe(*end);
  auto status = server.wait_exit(milliseconds{timeout_ms + 3000});
  ASSERT_TRUE(status.has_value()) << "mm-server still runs after SIGTERM";
  auto took = clock_type::now() - signalled;
  EXPECT_TRUE(WIFEXITED(*status)) << "raw status " << *status;
  EXPECT_EQ(WEXITSTATUS(*status), 0);
  EXPECT_LT(took, milliseconds{timeout_ms + 1000});
}

TEST(shutdown, sigterm_on_an_idle_server_exits_zero_quickly) {
  redis_process redis;
  server_process server{redis, {"--shutdown-timeout-ms", "2000"}};
  auto started = clock_type::now();
  server.send_signal(SIGTERM);
  auto status = server.wait_exit(milliseconds{5000});
  ASSERT_TRUE(status.has_value()) << "mm-server still runs after SIGTERM";
  EXPECT_TRUE(WIFEXITED(*status)) << "raw status " << *status;
  EXPECT_EQ(WEXITSTATUS(*status), 0);
  EXPECT_LT(clock_type::now() - started, milliseconds{3000});
}

} // namespace
} // namespace mm::test
