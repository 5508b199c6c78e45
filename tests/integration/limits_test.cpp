// End-to-end: the limits per client and per node (docs/security.md), each
// against a real mm-server with real gRPC clients: sessions per client
// (and the count going down when a session ends), the Start/Subscribe/
// Update rate, the ticker cap, the ticker allowlist, and the eviction of a
// stream whose client stopped reading.

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness.hpp"
#include "tests/integration/node_stats.hpp"

namespace mm::test {
namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

pb::SessionOptions conflate() {
  return pb::SessionOptions{};
}

std::string start_ok(pb::MarketMonitor::Stub& stub,
                     const std::vector<std::string>& tickers) {
  pb::StartPriceMonitoringResponse res;
  auto st = call_start(stub, tickers, conflate(), &res);
  EXPECT_TRUE(st.ok()) << describe(st);
  return res.session_id();
}

bool has(const grpc::Status& st, grpc::StatusCode code,
         const std::string& words) {
  return st.error_code() == code && contains_nocase(st.error_message(), words);
}

TEST(limits, sessions_per_client_are_capped_and_ending_one_frees_a_slot) {
  redis_process redis;
  server_process server{redis, {"--max-sessions-per-client", "3"}};
  auto stub = make_stub(server.grpc_address());
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i)
    ids.push_back(start_ok(*stub, {"PCA"}));
  pb::StartPriceMonitoringResponse res;
  auto st = call_start(*stub, {"PCA"}, conflate(), &res);
  EXPECT_TRUE(has(st, grpc::StatusCode::RESOURCE_EXHAUSTED,
                  "client session limit of 3 sessions reached "
                  "(--max-sessions-per-client 3)"))
    << describe(st);
  // A Subscribe stream counts too: it is refused with the same status.
  pb::SubscribeRequest sub;
  sub.add_tickers("PCA");
  auto refused = stream_reader::subscribe(*stub, sub);
  auto end = refused->wait_finished();
  ASSERT_TRUE(end.has_value());
  EXPECT_TRUE(has(*end, grpc::StatusCode::RESOURCE_EXHAUSTED,
                  "--max-sessions-per-client 3"))
    << describe(*end);
  // Stop ends a session: its slot is free once the session actor is gone
  // (the registry follows the actor, so this takes a moment, not a call).
  ASSERT_TRUE(call_stop(*stub, ids[0]).ok());
  std::unique_ptr<stream_reader> streamed;
  ASSERT_TRUE(wait_until([&] {
    streamed = stream_reader::subscribe(*stub, sub);
    return !streamed->wait_finished(milliseconds{300}).has_value();
  }))
    << "the stopped session's slot was not freed";
  // Full again; a client that cancels its stream frees its slot as well.
  st = call_start(*stub, {"PCA"}, conflate(), &res);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  streamed->cancel();
  EXPECT_TRUE(wait_until(
    [&] { return call_start(*stub, {"PCA"}, conflate(), &res).ok(); }))
    << "the cancelled stream's slot was not freed";
  admin_client admin{server.admin_address()};
  EXPECT_EQ(admin.stats().sessions, 3);
}

TEST(limits, start_subscribe_and_update_calls_are_rate_limited) {
  redis_process redis;
  server_process server{redis, {"--start-rate", "5", "--start-burst", "5"}};
  auto stub = make_stub(server.grpc_address());
  // The burst passes at once; the calls right after it are refused, with
  // the limit and its value.
  auto id = start_ok(*stub, {"RTA"});
  int ok = 1;
  grpc::Status refused;
  for (int i = 0; i < 20 && refused.ok(); ++i) {
    pb::UpdateSubscriptionResponse res;
    auto st = call_update(*stub, id, {"RTB"}, {}, &res);
    if (st.ok())
      ++ok;
    else
      refused = st;
  }
  EXPECT_GE(ok, 5);
  EXPECT_TRUE(has(refused, grpc::StatusCode::RESOURCE_EXHAUSTED,
                  "rate limit of 5 calls per second (burst 5)"))
    << describe(refused);
  EXPECT_TRUE(contains_nocase(refused.error_message(), "--start-rate 5"));
  // Start is counted in the same bucket.
  pb::StartPriceMonitoringResponse res;
  auto st = call_start(*stub, {"RTA"}, conflate(), &res);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
    << describe(st);
  // Stop and GetLastPrices are not limited.
  pb::GetLastPricesResponse last;
  EXPECT_TRUE(call_last(*stub, {"RTA"}, &last).ok());
  // The bucket refills at the rate: a second later calls pass again.
  std::this_thread::sleep_for(milliseconds{1100});
  for (int i = 0; i < 4; ++i) {
    st = call_start(*stub, {"RTA"}, conflate(), &res);
    EXPECT_TRUE(st.ok()) << describe(st);
  }
  EXPECT_TRUE(call_stop(*stub, id).ok());
}

TEST(limits, tickers_beyond_the_node_cap_are_refused) {
  redis_process redis;
  server_process server{redis, {"--max-tickers", "3", "--linger-ms", "200"}};
  auto stub = make_stub(server.grpc_address());
  auto id = start_ok(*stub, {"MTA", "MTB", "MTC"});
  pb::StartPriceMonitoringResponse res;
  auto st = call_start(*stub, {"MTA", "MTD"}, conflate(), &res);
  EXPECT_TRUE(has(st, grpc::StatusCode::RESOURCE_EXHAUSTED,
                  "ticker limit of 3 distinct tickers per node reached "
                  "(--max-tickers 3): cannot subscribe ticker MTD"))
    << describe(st);
  pb::SubscribeRequest sub;
  sub.add_tickers("MTE");
  auto refused = stream_reader::subscribe(*stub, sub);
  auto end = refused->wait_finished();
  ASSERT_TRUE(end.has_value());
  EXPECT_TRUE(has(*end, grpc::StatusCode::RESOURCE_EXHAUSTED,
                  "cannot subscribe ticker MTE"))
    << describe(*end);
  // Tickers that have a broadcaster stay usable at the cap.
  auto other = start_ok(*stub, {"MTB"});
  pb::UpdateSubscriptionResponse up;
  st = call_update(*stub, other, {"MTF"}, {}, &up);
  EXPECT_TRUE(has(st, grpc::StatusCode::RESOURCE_EXHAUSTED,
                  "cannot subscribe ticker MTF"))
    << describe(st);
  st = call_update(*stub, other, {"MTC"}, {}, &up);
  EXPECT_TRUE(st.ok()) << describe(st);
  admin_client admin{server.admin_address()};
  EXPECT_EQ(admin.stats().broadcasters, 3);
  // Once the sessions end, their broadcasters linger out and free slots.
  ASSERT_TRUE(call_stop(*stub, id).ok());
  ASSERT_TRUE(call_stop(*stub, other).ok());
  EXPECT_TRUE(wait_until([&] { return admin.stats().broadcasters == 0; }));
  EXPECT_FALSE(start_ok(*stub, {"MTD", "MTE", "MTF"}).empty());
}

TEST(limits, the_ticker_cap_holds_on_edges_and_for_their_hubs) {
  // The hub's cap holds for the relays of its edges (the cluster's remote
  // get), an edge's cap for its own relays.
  redis_process redis;
  server_process hub{redis,
                     {"--role", "hub", "--cluster-listen", "127.0.0.1:0",
                      "--max-tickers", "2", "--hub-retry-max-ms", "200"}};
  ASSERT_FALSE(hub.cluster_address().empty());
  server_process edge{redis,
                      {"--role", "edge", "--hub", hub.cluster_address(),
                       "--max-tickers", "3", "--hub-retry-max-ms", "200"}};
  auto stub = make_stub(edge.grpc_address());
  admin_client hub_admin{hub.admin_address()};
  EXPECT_FALSE(start_ok(*stub, {"HCA", "HCB"}).empty());
  ASSERT_TRUE(wait_until([&] { return hub_admin.stats().broadcasters == 2; }));
  // The edge has room for a third relay; the hub refuses its broadcaster
  // (the relay keeps asking, with its backoff).
  EXPECT_FALSE(start_ok(*stub, {"HCC"}).empty());
  std::this_thread::sleep_for(milliseconds{1000});
  EXPECT_EQ(hub_admin.stats().broadcasters, 2);
  // A fourth ticker is refused at the edge itself.
  pb::StartPriceMonitoringResponse res;
  auto st = call_start(*stub, {"HCD"}, conflate(), &res);
  EXPECT_TRUE(has(st, grpc::StatusCode::RESOURCE_EXHAUSTED,
                  "(--max-tickers 3): cannot subscribe ticker HCD"))
    << describe(st);
}

/// A temporary file with `text`, removed at the end of the test.
struct temp_file {
  explicit temp_file(const std::string& text) {
    char buf[] = "/tmp/mm-allowlist-XXXXXX";
    int fd = ::mkstemp(buf);
    EXPECT_GE(fd, 0);
    ::close(fd);
    path = buf;
    std::ofstream{path} << text;
  }
  ~temp_file() {
    ::unlink(path.c_str());
  }
  std::string path;
};

TEST(limits, tickers_outside_the_allowlist_are_permission_denied) {
  temp_file list{"# the tickers this node serves\nALA\nFX.*  # all FX\n"};
  redis_process redis;
  server_process server{redis, {"--ticker-allowlist", list.path}};
  auto stub = make_stub(server.grpc_address());
  auto id = start_ok(*stub, {"ala", "FX.EURUSD"});
  pb::StartPriceMonitoringResponse res;
  auto st = call_start(*stub, {"ALA", "ALB"}, conflate(), &res);
  EXPECT_TRUE(has(st, grpc::StatusCode::PERMISSION_DENIED,
                  "ticker ALB is not allowed on this server "
                  "(--ticker-allowlist)"))
    << describe(st);
  pb::UpdateSubscriptionResponse up;
  st = call_update(*stub, id, {"FXEURUSD"}, {}, &up);
  EXPECT_TRUE(has(st, grpc::StatusCode::PERMISSION_DENIED, "FXEURUSD"))
    << describe(st);
  pb::SubscribeRequest sub;
  sub.add_tickers("ALAB");
  auto refused = stream_reader::subscribe(*stub, sub);
  auto end = refused->wait_finished();
  ASSERT_TRUE(end.has_value());
  EXPECT_TRUE(has(*end, grpc::StatusCode::PERMISSION_DENIED, "ALAB"))
    << describe(*end);
  pb::GetLastPricesResponse last;
  st = call_last(*stub, {"ZZZ"}, &last);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  admin_client admin{server.admin_address()};
  EXPECT_EQ(admin.stats().broadcasters, 2);
}

/// Runs mm-server with `flags` expecting it to refuse them: returns its
/// exit status and sets `output` (stdout and stderr).
int run_refused(const std::vector<std::string>& flags, std::string& output) {
  std::string cmd = MM_SERVER_BIN;
  for (auto& f : flags)
    cmd += " '" + f + "'";
  cmd += " 2>&1";
  auto* pipe = ::popen(cmd.c_str(), "r");
  char buf[512];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0)
    output.append(buf, n);
  int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(limits, a_bad_allowlist_file_exits_2_with_one_line) {
  temp_file bad{"AAPL\nBAD TICKER\n"};
  temp_file empty{"# nothing\n\n"};
  struct {
    std::vector<std::string> flags;
    std::string words;
  } cases[] = {
    {{"--ticker-allowlist", bad.path}, "line 2: malformed ticker"},
    {{"--ticker-allowlist", empty.path}, "lists no ticker"},
    {{"--ticker-allowlist", "/nonexistent/list"}, "cannot read"},
  };
  for (auto& c : cases) {
    std::string out;
    EXPECT_EQ(run_refused(c.flags, out), 2) << out;
    EXPECT_TRUE(contains_nocase(out, "--ticker-allowlist")) << out;
    EXPECT_TRUE(contains_nocase(out, c.words)) << out;
    auto lines = std::count(out.begin(), out.end(), '\n');
    EXPECT_LE(lines, 2) << out;
  }
}

TEST(limits, a_stream_whose_client_stops_reading_is_ended) {
  // Both delivery modes; ALL with a queue too large to overflow first.
  redis_process redis;
  server_process server{redis,
                        {"--write-stall-timeout-ms", "700", "--max-pending",
                         "1000000", "--keepalive-timeout-ms", "20000"}};
  std::vector<std::string> tickers;
  for (int i = 0; i < 50; ++i)
    tickers.push_back("WST" + std::to_string(i));
  // A connection that takes little at a time (no BDP growth, an 8 KiB
  // window), so that the stall reaches the server quickly.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 8192);
  args.SetInt("mm.test.connection", 77);
  auto slow_stub = pb::MarketMonitor::NewStub(grpc::CreateCustomChannel(
    server.grpc_address(), grpc::InsecureChannelCredentials(), args));
  pb::SubscribeRequest req;
  for (auto& t : tickers)
    req.add_tickers(t);
  auto conflate_reader = stream_reader::subscribe(*slow_stub, req, true);
  auto all_req = req;
  all_req.mutable_options()->set_mode(pb::DELIVERY_MODE_ALL);
  auto all_reader = stream_reader::subscribe(*slow_stub, all_req, true);
  // A reader that keeps reading is not touched.
  auto stub = make_stub(server.grpc_address());
  auto fast = stream_reader::subscribe(*stub, req);
  publisher pub{redis.port()};
  for (auto& t : tickers)
    ASSERT_TRUE(pub.wait_subscribed(t));
  admin_client admin{server.admin_address()};
  std::string pad(300, 'x');
  int64_t published = 0;
  auto deadline = clock_type::now() + scaled_wait(milliseconds{20000});
  bool evicted = false;
  while (clock_type::now() < deadline && !evicted) {
    std::vector<std::pair<std::string, std::string>> burst;
    for (int i = 0; i < 50; ++i) {
      auto& t = tickers[static_cast<size_t>(published++) % tickers.size()];
      burst.emplace_back(t, "{\"price\": 1.5, \"volume\": 1, \"ts\": "
                              + std::to_string(now_ns()) + ", \"pad\": \"" + pad
                              + "\"}");
    }
    pub.publish_burst(burst);
    std::this_thread::sleep_for(milliseconds{10});
    if (published % 2000 == 0)
      evicted = admin.stats().ended("client_not_reading") == 2;
  }
  auto stats = admin.stats();
  EXPECT_EQ(stats.ended("client_not_reading"), 2) << stats.describe();
  EXPECT_EQ(stats.ended("slow_consumer"), 0) << stats.describe();
  EXPECT_EQ(stats.sessions, 1) << stats.describe();
  EXPECT_FALSE(fast->finished());
  // Readers that read again within the finish grace read the status.
  conflate_reader->resume();
  all_reader->resume();
  for (auto* r : {conflate_reader.get(), all_reader.get()}) {
    auto end = r->wait_finished(scaled_wait(milliseconds{10000}));
    ASSERT_TRUE(end.has_value());
    EXPECT_TRUE(
      has(*end, grpc::StatusCode::RESOURCE_EXHAUSTED, "client not reading"))
      << describe(*end);
    EXPECT_TRUE(
      contains_nocase(end->error_message(), "--write-stall-timeout-ms"))
      << describe(*end);
  }
}

} // namespace
} // namespace mm::test
