// End-to-end: cluster roles over CAF networking (docs/cluster.md). Real
// redis-server and mm-server processes on loopback: hubs with the Redis
// listener and broadcasters, edges with gRPC sessions and relays. Short
// heartbeat, backoff and linger flags keep every bound (and the suite) short.

#include "tests/integration/harness.hpp"
#include "tests/integration/node_stats.hpp"

#include "actors/cluster/protocol.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <regex>
#include <set>

namespace mm::test {
namespace {

constexpr int heartbeat_ms = 200;
constexpr int connection_timeout_ms = 1000;
constexpr int retry_max_ms = 500;
constexpr int linger_ms = 300;

/// A frozen or lost hub is noticed within connection timeout + heartbeat
/// interval; we allow one more second for scheduling on a loaded machine.
constexpr milliseconds notice_bound{connection_timeout_ms + heartbeat_ms
                                    + 1000};

/// Ticks flow again after a hub restart within: one reconnect backoff step
/// (at most the cap), the handshake and the relay's re-subscribe (one more
/// backoff step at most), plus slack.
constexpr milliseconds resume_bound{2 * retry_max_ms + 3000};

/// A lost hub's tickers deliver again on every edge within this
/// (docs/cluster.md, "Failover"): the loss is noticed within connection
/// timeout + heartbeat interval, the move itself takes one round trip to
/// the next hub; one more second of slack. Not scaled for sanitizers: this
/// is the bound the failover test exists to prove.
constexpr milliseconds failover_bound{connection_timeout_ms + heartbeat_ms
                                      + 1000};

std::vector<std::string> cluster_flags() {
  return {"--heartbeat-interval-ms",
          std::to_string(heartbeat_ms),
          "--connection-timeout-ms",
          std::to_string(connection_timeout_ms),
          "--linger-ms",
          std::to_string(linger_ms),
          "--attach-timeout-ms",
          "1000"};
}

std::vector<std::string> hub_flags(const std::string& listen = "127.0.0.1:0") {
  auto flags = cluster_flags();
  flags.insert(flags.end(), {"--role", "hub", "--cluster-listen", listen});
  return flags;
}

std::vector<std::string> edge_flags(const std::vector<std::string>& hubs,
                                    std::vector<std::string> extra = {}) {
  auto flags = cluster_flags();
  flags.insert(flags.end(), {"--role", "edge", "--hub-retry-max-ms",
                             std::to_string(retry_max_ms)});
  for (auto& h : hubs)
    flags.insert(flags.end(), {"--hub", h});
  flags.insert(flags.end(), extra.begin(), extra.end());
  return flags;
}

/// The remote subscribers of `ticker` at `hub`, or -1 if it has no
/// broadcaster for it.
int64_t remote_subscribers(const server_process& hub,
                           const std::string& ticker) {
  return json_int(shell_json(hub, "ticker " + ticker), "remote_subscribers");
}

/// Whether `edge` sees every hub it knows as connected.
bool hubs_connected(const server_process& edge, size_t hubs) {
  auto json = shell_json(edge, "nodes");
  size_t n = 0;
  for (size_t pos = 0;
       (pos = json.find("\"state\":\"connected\"", pos)) != std::string::npos;
       ++pos)
    ++n;
  return n == hubs;
}

/// The state of the one hub `edge` knows ("connected", "unreachable: ...",
/// "connecting", "refused: ..."), or "" if `nodes` failed.
std::string hub_state(const server_process& edge) {
  auto json = shell_json(edge, "nodes");
  std::regex re{R"re("role":"hub".*?"state":"([^"]*)")re"};
  std::smatch m;
  if (!std::regex_search(json, m, re))
    return {};
  return m[1];
}

pb::SubscribeRequest subscribe_to(const std::vector<std::string>& tickers) {
  pb::SubscribeRequest req;
  for (auto& t : tickers)
    req.add_tickers(t);
  // CONFLATE would fold back-to-back ticks; compare every one of them.
  req.mutable_options()->set_mode(pb::DELIVERY_MODE_ALL);
  return req;
}

std::vector<std::pair<uint64_t, double>>
seq_and_price(const std::vector<pb::PriceUpdate>& xs) {
  std::vector<std::pair<uint64_t, double>> result;
  for (auto& x : xs)
    result.emplace_back(x.seq(), x.price());
  return result;
}

TEST(cluster, edges_share_ticks_survive_hub_restart_and_edge_loss) {
  redis_process redis;
  auto hub = std::make_unique<server_process>(redis, hub_flags());
  auto cluster_addr = hub->cluster_address();
  ASSERT_FALSE(cluster_addr.empty());
  server_process e1{redis, edge_flags({cluster_addr})};
  server_process e2{redis, edge_flags({cluster_addr})};
  auto stub1 = make_stub(e1.grpc_address());
  auto stub2 = make_stub(e2.grpc_address());
  auto s1 = stream_reader::subscribe(*stub1, subscribe_to({"CLA"}));
  auto s2 = stream_reader::subscribe(*stub2, subscribe_to({"CLA"}));
  // One relay per edge at the hub's broadcaster.
  ASSERT_TRUE(wait_until([&] { return remote_subscribers(*hub, "CLA") == 2; }))
    << shell_json(*hub, "ticker CLA");
  publisher pub{redis.port()};
  ASSERT_TRUE(pub.wait_subscribed("CLA"));
  EXPECT_EQ(pub.subscribers("CLA"), 1);
  for (int i = 1; i <= 5; ++i)
    pub.publish_tick("CLA", 100 + i, i, 1700000000000000000 + i);
  ASSERT_TRUE(s1->wait_count("CLA", 5));
  ASSERT_TRUE(s2->wait_count("CLA", 5));
  auto got1 = seq_and_price(s1->updates_of("CLA"));
  auto got2 = seq_and_price(s2->updates_of("CLA"));
  EXPECT_EQ(got1, got2);
  ASSERT_EQ(got1.size(), 5u);
  for (size_t i = 0; i < got1.size(); ++i)
    EXPECT_EQ(got1[i].first, i + 1);
  // The hub dies without a goodbye: the edges' streams stay open.
  hub->send_signal(SIGKILL);
  ASSERT_TRUE(hub->wait_exit(milliseconds{5000}));
  hub.reset();
  std::this_thread::sleep_for(notice_bound); // past any detection
  EXPECT_FALSE(s1->finished());
  EXPECT_FALSE(s2->finished());
  // Back on the same cluster port: ticks flow again within resume_bound.
  hub = std::make_unique<server_process>(redis, hub_flags(cluster_addr));
  auto restarted = clock_type::now();
  auto resumed = [&](stream_reader& s) {
    return s.wait_update(
      "CLA", [](const pb::PriceUpdate& u) { return u.price() > 999; },
      milliseconds{100});
  };
  bool both = false;
  while (!both && clock_type::now() - restarted < resume_bound) {
    pub.publish_tick("CLA", 1000, 1, 1700000000000000100);
    both = resumed(*s1) && resumed(*s2);
  }
  EXPECT_TRUE(both) << "no ticks within " << resume_bound.count()
                    << " ms of the hub's restart";
  // A restarted hub: a new epoch, and the edges mark the first update after
  // the loss with gap.
  for (auto* s : {s1.get(), s2.get()}) {
    auto ups = s->updates_of("CLA");
    ASSERT_GT(ups.size(), 5u);
    EXPECT_NE(ups[5].epoch(), ups[4].epoch());
    EXPECT_NE(ups[5].epoch(), 0u);
    EXPECT_TRUE(ups[5].gap());
    EXPECT_FALSE(ups[4].gap());
  }
  EXPECT_EQ(pub.subscribers("CLA"), 1);
  EXPECT_FALSE(s1->finished());
  EXPECT_FALSE(s2->finished());
  // An edge dies: the hub drops its relay, the other edge's stays.
  ASSERT_TRUE(wait_until([&] { return remote_subscribers(*hub, "CLA") == 2; }))
    << shell_json(*hub, "ticker CLA");
  auto e2_name = e2.grpc_address();
  EXPECT_NE(shell_json(*hub, "ticker CLA").find(e2_name), std::string::npos);
  e2.send_signal(SIGKILL);
  ASSERT_TRUE(e2.wait_exit(milliseconds{5000}));
  EXPECT_TRUE(wait_until(
    [&] {
      auto json = shell_json(*hub, "ticker CLA");
      return json_int(json, "remote_subscribers") == 1
             && json.find(e2_name) == std::string::npos;
    },
    notice_bound))
    << shell_json(*hub, "ticker CLA");
  // The hub still knows e1 only.
  auto nodes = shell_json(*hub, "nodes");
  EXPECT_NE(nodes.find(e1.grpc_address()), std::string::npos) << nodes;
  EXPECT_EQ(nodes.find(e2_name), std::string::npos) << nodes;
}

TEST(cluster, a_client_resumes_on_an_edge_from_the_relays_history) {
  redis_process redis;
  server_process hub{redis, hub_flags()};
  server_process edge{redis, edge_flags({hub.cluster_address()})};
  auto stub = make_stub(edge.grpc_address());
  auto keeper = stream_reader::subscribe(*stub, subscribe_to({"CLR"}));
  ASSERT_TRUE(wait_until([&] { return remote_subscribers(hub, "CLR") == 1; }));
  publisher pub{redis.port()};
  ASSERT_TRUE(pub.wait_subscribed("CLR"));
  auto first = stream_reader::subscribe(*stub, subscribe_to({"CLR"}));
  ASSERT_TRUE(wait_until([&] {
    pub.publish_tick("CLR", 1, 1, 1);
    return first->wait_count("CLR", 1, milliseconds{100});
  }));
  first->cancel();
  first->wait_finished();
  auto seen = first->updates_of("CLR").back();
  for (int i = 0; i < 4; ++i)
    pub.publish_tick("CLR", 10 + i, 1, 10 + i);
  ASSERT_TRUE(keeper->wait_update("CLR", [&](auto& u) {
    return u.seq() == seen.seq() + 4;
  }));
  auto req = subscribe_to({"CLR"});
  auto* pos = req.add_resume_from();
  pos->set_ticker("CLR");
  pos->set_epoch(seen.epoch());
  pos->set_seq(seen.seq());
  auto second = stream_reader::subscribe(*stub, req);
  ASSERT_TRUE(second->wait_count("CLR", 4));
  auto batch = second->received().front();
  ASSERT_EQ(batch.recovery_size(), 1) << batch.DebugString();
  EXPECT_TRUE(batch.recovery(0).recovered());
  EXPECT_EQ(batch.recovery(0).replayed(), 4u);
  auto ups = second->updates_of("CLR");
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(ups[i].seq(), seen.seq() + 1 + i);
    EXPECT_EQ(ups[i].epoch(), seen.epoch());
  }
}

TEST(cluster, two_hubs_subscribe_each_channel_once) {
  redis_process redis;
  server_process h1{redis, hub_flags()};
  server_process h2{redis, hub_flags()};
  auto a = h1.cluster_address();
  auto b = h2.cluster_address();
  // The order of --hub does not matter: rendezvous hashing is per address.
  server_process e1{redis, edge_flags({a, b})};
  server_process e2{redis, edge_flags({b, a})};
  std::vector<std::string> tickers;
  for (int i = 0; i < 12; ++i)
    tickers.push_back("SH" + std::to_string(i));
  auto stub1 = make_stub(e1.grpc_address());
  auto stub2 = make_stub(e2.grpc_address());
  auto s1 = stream_reader::subscribe(*stub1, subscribe_to(tickers));
  auto s2 = stream_reader::subscribe(*stub2, subscribe_to(tickers));
  publisher pub{redis.port()};
  for (auto& t : tickers)
    ASSERT_TRUE(pub.wait_subscribed(t)) << t;
  // Both edges' relays at their hubs: one per edge and ticker.
  ASSERT_TRUE(wait_until([&] {
    auto n1 = json_int(shell_json(h1, "stats"), "broadcasters");
    auto n2 = json_int(shell_json(h2, "stats"), "broadcasters");
    return n1 + n2 == static_cast<int64_t>(tickers.size());
  }));
  ASSERT_TRUE(wait_until([&] {
    for (auto& t : tickers)
      if (remote_subscribers(h1, t) != 2 && remote_subscribers(h2, t) != 2)
        return false;
    return true;
  }));
  auto channels = redis_channels(redis.port(), "prices:*");
  EXPECT_EQ(channels.size(), tickers.size());
  for (auto& t : tickers)
    EXPECT_EQ(pub.subscribers(t), 1) << t;
  for (auto& t : tickers)
    pub.publish_tick(t, 42, 1, 1700000000000000000);
  for (auto& t : tickers) {
    EXPECT_TRUE(s1->wait_count(t, 1)) << t;
    EXPECT_TRUE(s2->wait_count(t, 1)) << t;
  }
}

/// Whether every stream has an update of every ticker with a price of at
/// least `min_price`.
bool all_reached(const std::vector<stream_reader*>& streams,
                 const std::vector<std::string>& tickers, double min_price) {
  for (auto* s : streams)
    for (auto& t : tickers) {
      auto ups = s->updates_of(t);
      if (std::none_of(ups.begin(), ups.end(),
                       [&](auto& u) { return u.price() >= min_price; }))
        return false;
    }
  return true;
}

/// Publishes a tick of every ticker at `price` every 50 ms until every
/// stream got one at least that high; returns how long it took, or nothing
/// after `bound`.
std::optional<milliseconds>
publish_until_reached(publisher& pub,
                      const std::vector<stream_reader*>& streams,
                      const std::vector<std::string>& tickers, double price,
                      milliseconds bound, clock_type::time_point since) {
  while (clock_type::now() - since < bound) {
    for (auto& t : tickers)
      pub.publish_tick(t, price, 1, 1700000000000000000);
    auto round = clock_type::now();
    while (clock_type::now() - round < milliseconds{50}) {
      if (all_reached(streams, tickers, price))
        return std::chrono::duration_cast<milliseconds>(clock_type::now()
                                                        - since);
      std::this_thread::sleep_for(milliseconds{5});
    }
  }
  return std::nullopt;
}

/// The first update of `ticker` in `s` priced at least `min_price` and the
/// one before it; fails the test if there are not both.
std::pair<pb::PriceUpdate, pb::PriceUpdate>
around(stream_reader& s, const std::string& ticker, double min_price) {
  auto ups = s.updates_of(ticker);
  for (size_t i = 1; i < ups.size(); ++i)
    if (ups[i].price() >= min_price && ups[i - 1].price() < min_price)
      return {ups[i - 1], ups[i]};
  ADD_FAILURE() << "no update of " << ticker << " crossing " << min_price;
  return {};
}

TEST(cluster, a_lost_hubs_tickers_move_to_the_other_hub_within_the_bound) {
  redis_process redis;
  auto h1 = std::make_unique<server_process>(redis, hub_flags());
  server_process h2{redis, hub_flags()};
  auto a = h1->cluster_address();
  auto b = h2.cluster_address();
  server_process e1{redis, edge_flags({a, b})};
  server_process e2{redis, edge_flags({b, a})};
  ASSERT_TRUE(wait_until([&] { return hubs_connected(e1, 2); }));
  ASSERT_TRUE(wait_until([&] { return hubs_connected(e2, 2); }));
  std::vector<server_process*> survivors{&h2, &e1, &e2};
  std::vector<int64_t> baseline;
  for (auto* n : survivors)
    baseline.push_back(admin_client{n->admin_address()}.stats().actors_running);
  std::vector<std::string> tickers;
  for (int i = 0; i < 12; ++i)
    tickers.push_back("FO" + std::to_string(i));
  std::vector<std::string> half(tickers.begin(), tickers.begin() + 6);
  publisher pub{redis.port()};
  {
    // Two clients on each edge.
    auto stub1 = make_stub(e1.grpc_address());
    auto stub2 = make_stub(e2.grpc_address());
    auto s1 = stream_reader::subscribe(*stub1, subscribe_to(tickers));
    auto s2 = stream_reader::subscribe(*stub2, subscribe_to(tickers));
    auto s3 = stream_reader::subscribe(*stub1, subscribe_to(half));
    auto s4 = stream_reader::subscribe(*stub2, subscribe_to(half));
    std::vector<stream_reader*> all{s1.get(), s2.get()};
    std::vector<stream_reader*> some{s3.get(), s4.get()};
    // Each ticker at its owner, with both edges' relays there.
    std::set<std::string> on_h1;
    ASSERT_TRUE(wait_until([&] {
      on_h1.clear();
      for (auto& t : tickers) {
        if (remote_subscribers(*h1, t) == 2)
          on_h1.insert(t);
        else if (remote_subscribers(h2, t) != 2)
          return false;
      }
      return true;
    }));
    ASSERT_FALSE(on_h1.empty());
    ASSERT_LT(on_h1.size(), tickers.size());
    for (auto& t : tickers)
      ASSERT_TRUE(pub.wait_subscribed(t)) << t;
    auto start = clock_type::now();
    ASSERT_TRUE(
      publish_until_reached(pub, all, tickers, 1, default_wait, start));
    ASSERT_TRUE(publish_until_reached(pub, some, half, 1, default_wait, start));
    // h1 dies without a goodbye and stays dead.
    h1->send_signal(SIGKILL);
    auto killed = clock_type::now();
    ASSERT_TRUE(h1->wait_exit(milliseconds{5000}));
    h1.reset();
    auto took = publish_until_reached(pub, all, tickers, 1000, failover_bound,
                                      killed);
    auto took_some = publish_until_reached(pub, some, half, 1000,
                                           failover_bound, killed);
    ASSERT_TRUE(took && took_some)
      << "not every ticker delivers again within " << failover_bound.count()
      << " ms of the hub's death";
    std::cerr << "every ticker delivers again " << took->count()
              << " ms after the hub's death\n";
    // The first update after the move: the new hub's epoch, marked gap. The
    // surviving hub's tickers go on as before.
    for (auto* s : {s1.get(), s2.get(), s3.get(), s4.get()}) {
      auto& ts = s == s1.get() || s == s2.get() ? tickers : half;
      for (auto& t : ts) {
        auto [before, after] = around(*s, t, 1000);
        if (on_h1.count(t) > 0) {
          EXPECT_TRUE(after.gap()) << t;
          EXPECT_NE(after.epoch(), before.epoch()) << t;
          EXPECT_NE(after.epoch(), 0u) << t;
        } else {
          EXPECT_FALSE(after.gap()) << t;
          EXPECT_EQ(after.epoch(), before.epoch()) << t;
        }
      }
      EXPECT_FALSE(s->finished());
    }
    // Every channel subscribed exactly once, by h2, which has both edges'
    // relays for every ticker. (Redis may take a moment to read the dead
    // hub's closed connection; a second subscription would stay.)
    auto once = [&] {
      for (auto& t : tickers)
        if (pub.subscribers(t) != 1)
          return false;
      return true;
    };
    EXPECT_TRUE(wait_until(once, milliseconds{1000}));
    for (auto& t : tickers) {
      EXPECT_EQ(pub.subscribers(t), 1) << t;
      EXPECT_EQ(remote_subscribers(h2, t), 2) << t;
    }
    EXPECT_EQ(json_int(shell_json(h2, "stats"), "broadcasters"),
              static_cast<int64_t>(tickers.size()));
    // Leaving scope cancels every stream.
  }
  // Quiescence on the survivors, as in every_node_is_idle_after_...
  for (size_t i = 0; i < survivors.size(); ++i) {
    admin_client admin{survivors[i]->admin_address()};
    node_stats last;
    bool idle = wait_until(
      [&] {
        last = admin.stats();
        return last.idle() && last.actors_running == baseline[i];
      },
      milliseconds{10000});
    EXPECT_TRUE(idle) << "node " << i << ": " << last.describe()
                      << " baseline actors " << baseline[i];
    EXPECT_EQ(json_int(shell_json(*survivors[i], "nodes"), "relays"), 0)
      << shell_json(*survivors[i], "nodes");
  }
  EXPECT_TRUE(redis_channels(redis.port(), "prices:*").empty());
}

TEST(cluster, a_returning_hub_gets_its_tickers_back) {
  redis_process redis;
  auto h1 = std::make_unique<server_process>(redis, hub_flags());
  server_process h2{redis, hub_flags()};
  auto a = h1->cluster_address();
  auto b = h2.cluster_address();
  server_process e1{redis, edge_flags({a, b})};
  server_process e2{redis, edge_flags({b, a})};
  // Where a ticker goes depends on the hubs' addresses, whose ports are
  // random: with 8 tickers all went to h2 in 1 run of 256 (seen once,
  // `ASSERT_FALSE(on_h1.empty())`); with 16, 1 in 65,536.
  std::vector<std::string> tickers;
  for (int i = 0; i < 16; ++i)
    tickers.push_back("FB" + std::to_string(i));
  auto stub1 = make_stub(e1.grpc_address());
  auto stub2 = make_stub(e2.grpc_address());
  auto s1 = stream_reader::subscribe(*stub1, subscribe_to(tickers));
  auto s2 = stream_reader::subscribe(*stub2, subscribe_to(tickers));
  std::vector<stream_reader*> all{s1.get(), s2.get()};
  std::set<std::string> on_h1;
  ASSERT_TRUE(wait_until([&] {
    on_h1.clear();
    for (auto& t : tickers) {
      if (remote_subscribers(*h1, t) == 2)
        on_h1.insert(t);
      else if (remote_subscribers(h2, t) != 2)
        return false;
    }
    return true;
  }));
  ASSERT_FALSE(on_h1.empty());
  publisher pub{redis.port()};
  ASSERT_TRUE(publish_until_reached(pub, all, tickers, 1, default_wait,
                                    clock_type::now()));
  h1->send_signal(SIGKILL);
  ASSERT_TRUE(h1->wait_exit(milliseconds{5000}));
  h1.reset();
  ASSERT_TRUE(publish_until_reached(pub, all, tickers, 1000, failover_bound,
                                    clock_type::now()));
  // h1 back on its port: the edges reconnect and move its tickers back.
  h1 = std::make_unique<server_process>(redis, hub_flags(a));
  ASSERT_TRUE(wait_until([&] {
    for (auto& t : on_h1)
      if (remote_subscribers(*h1, t) != 2)
        return false;
    return true;
  }))
    << shell_json(*h1, "tickers");
  ASSERT_TRUE(publish_until_reached(pub, all, tickers, 2000, resume_bound,
                                    clock_type::now()));
  for (auto* s : all)
    for (auto& t : on_h1) {
      auto [before, after] = around(*s, t, 2000);
      EXPECT_TRUE(after.gap()) << t;
      EXPECT_NE(after.epoch(), before.epoch()) << t;
    }
  // h2 lets go of them after --linger-ms: each channel once again.
  EXPECT_TRUE(wait_until([&] {
    for (auto& t : tickers)
      if (pub.subscribers(t) != 1)
        return false;
    return json_int(shell_json(h2, "stats"), "broadcasters")
           == static_cast<int64_t>(tickers.size() - on_h1.size());
  }))
    << shell_json(h2, "tickers");
  for (auto& t : on_h1)
    EXPECT_EQ(remote_subscribers(h2, t), -1) << t;
}
TEST(cluster, a_frozen_hubs_tickers_move_within_the_heartbeat_bound) {
  redis_process redis;
  server_process h1{redis, hub_flags()};
  server_process h2{redis, hub_flags()};
  server_process e1{redis,
                    edge_flags({h1.cluster_address(), h2.cluster_address()})};
  server_process e2{redis,
                    edge_flags({h2.cluster_address(), h1.cluster_address()})};
  std::vector<std::string> tickers;
  for (int i = 0; i < 8; ++i)
    tickers.push_back("FZ" + std::to_string(i));
  auto stub1 = make_stub(e1.grpc_address());
  auto stub2 = make_stub(e2.grpc_address());
  auto s1 = stream_reader::subscribe(*stub1, subscribe_to(tickers));
  auto s2 = stream_reader::subscribe(*stub2, subscribe_to(tickers));
  std::vector<stream_reader*> all{s1.get(), s2.get()};
  std::set<std::string> on_h1;
  ASSERT_TRUE(wait_until([&] {
    on_h1.clear();
    for (auto& t : tickers) {
      if (remote_subscribers(h1, t) == 2)
        on_h1.insert(t);
      else if (remote_subscribers(h2, t) != 2)
        return false;
    }
    return true;
  }));
  ASSERT_FALSE(on_h1.empty());
  publisher pub{redis.port()};
  ASSERT_TRUE(publish_until_reached(pub, all, tickers, 1, default_wait,
                                    clock_type::now()));
  // h1 freezes: no FIN, only the heartbeats tell. Ticks published before
  // all its threads stopped would still reach the edges through it (seen
  // once under the whole suite: the first update after the freeze came in
  // h1's epoch).
  h1.send_signal(SIGSTOP);
  ASSERT_TRUE(h1.wait_stopped());
  auto frozen = clock_type::now();
  auto took = publish_until_reached(pub, all, tickers, 1000, failover_bound,
                                    frozen);
  // The frozen hub still holds its Redis subscriptions: the documented
  // window in which a channel is subscribed at two hubs.
  size_t doubled = 0;
  for (auto& t : on_h1)
    if (pub.subscribers(t) == 2)
      ++doubled;
  h1.send_signal(SIGCONT);
  ASSERT_TRUE(took) << "not every ticker delivers again within "
                    << failover_bound.count() << " ms of the hub's freeze";
  std::cerr << "a frozen hub's tickers deliver again " << took->count()
            << " ms after the freeze; " << doubled << " of " << on_h1.size()
            << " channels at both hubs meanwhile\n";
  for (auto* s : all)
    for (auto& t : on_h1) {
      auto [before, after] = around(*s, t, 1000);
      EXPECT_TRUE(after.gap()) << t;
      EXPECT_NE(after.epoch(), before.epoch()) << t;
    }
  // Thawed, h1 drops the edges' old relays and gets its tickers back; h2
  // lets go of them after --linger-ms: each channel once again.
  EXPECT_TRUE(wait_until([&] {
    for (auto& t : tickers)
      if (pub.subscribers(t) != 1)
        return false;
    for (auto& t : on_h1)
      if (remote_subscribers(h1, t) != 2 || remote_subscribers(h2, t) != -1)
        return false;
    return true;
  }))
    << shell_json(h1, "tickers") << shell_json(h2, "tickers");
  EXPECT_TRUE(publish_until_reached(pub, all, tickers, 2000, resume_bound,
                                    clock_type::now()));
}
TEST(cluster, frozen_hub_is_noticed_within_the_heartbeat_bound) {
  redis_process redis;
  server_process hub{redis, hub_flags()};
  server_process edge{redis, edge_flags({hub.cluster_address()})};
  auto stub = make_stub(edge.grpc_address());
  auto s = stream_reader::subscribe(*stub, subscribe_to({"FRZ"}));
  ASSERT_TRUE(wait_until([&] { return remote_subscribers(hub, "FRZ") == 1; }));
  ASSERT_TRUE(hubs_connected(edge, 1)) << shell_json(edge, "nodes");
  hub.send_signal(SIGSTOP);
  auto frozen = clock_type::now();
  std::string state;
  bool noticed = wait_until(
    [&] {
      // "connecting": the link's monitor on the hub's directory fired (the
      // heartbeat timeout killed the proxy). A mere slow answer would read
      // "unreachable: ..." and does not count.
      state = hub_state(edge);
      return state == "connecting";
    },
    notice_bound + milliseconds{2000});
  auto took =
    std::chrono::duration_cast<milliseconds>(clock_type::now() - frozen);
  hub.send_signal(SIGCONT);
  ASSERT_TRUE(noticed) << shell_json(edge, "nodes");
  EXPECT_LE(took, notice_bound) << "took " << took.count() << " ms";
  std::cerr << "frozen hub noticed after " << took.count() << " ms (" << state
            << ")\n";
  EXPECT_FALSE(s->finished());
  // Thawed, the hub is used again and ticks flow.
  publisher pub{redis.port()};
  auto thawed = clock_type::now();
  bool flowing = false;
  while (!flowing && clock_type::now() - thawed < resume_bound) {
    pub.publish_tick("FRZ", 7, 1, 1700000000000000000);
    flowing = s->wait_count("FRZ", 1, milliseconds{100});
  }
  EXPECT_TRUE(flowing);
}

TEST(cluster, every_node_is_idle_after_the_clients_leave) {
  redis_process redis;
  server_process hub{redis, hub_flags()};
  server_process e1{redis, edge_flags({hub.cluster_address()})};
  server_process e2{redis, edge_flags({hub.cluster_address()})};
  ASSERT_TRUE(wait_until([&] { return hubs_connected(e1, 1); }));
  ASSERT_TRUE(wait_until([&] { return hubs_connected(e2, 1); }));
  std::vector<server_process*> nodes{&hub, &e1, &e2};
  std::vector<int64_t> baseline;
  for (auto* n : nodes)
    baseline.push_back(admin_client{n->admin_address()}.stats().actors_running);
  {
    std::vector<std::string> tickers{"QA", "QB", "QC", "QD"};
    auto stub1 = make_stub(e1.grpc_address());
    auto stub2 = make_stub(e2.grpc_address());
    std::vector<std::unique_ptr<stream_reader>> streams;
    for (size_t i = 0; i < 20; ++i) {
      auto& stub = i % 2 == 0 ? *stub1 : *stub2;
      streams.push_back(stream_reader::subscribe(
        stub, subscribe_to({tickers[i % 4], tickers[(i + 1) % 4]})));
    }
    publisher pub{redis.port()};
    for (auto& t : tickers)
      ASSERT_TRUE(pub.wait_subscribed(t));
    ASSERT_TRUE(wait_until([&] {
      for (auto& t : tickers)
        if (remote_subscribers(hub, t) != 2)
          return false;
      return true;
    }));
    for (auto& t : tickers)
      pub.publish_tick(t, 1, 1, 1700000000000000000);
    for (size_t i = 0; i < streams.size(); ++i)
      EXPECT_TRUE(streams[i]->wait_count(tickers[i % 4], 1));
    // Leaving scope cancels every stream.
  }
  // docs/architecture.md rule 5 on every node: relays linger out on the
  // edges, then the hub's broadcasters, then the Redis subscriptions.
  for (size_t i = 0; i < nodes.size(); ++i) {
    admin_client admin{nodes[i]->admin_address()};
    node_stats last;
    bool idle = wait_until(
      [&] {
        last = admin.stats();
        return last.idle() && last.actors_running == baseline[i];
      },
      milliseconds{10000});
    EXPECT_TRUE(idle) << "node " << i << ": " << last.describe()
                      << " baseline actors " << baseline[i];
    EXPECT_EQ(json_int(shell_json(*nodes[i], "nodes"), "relays"), 0)
      << shell_json(*nodes[i], "nodes");
  }
  EXPECT_TRUE(redis_channels(redis.port(), "prices:*").empty());
}

TEST(cluster, a_hub_of_another_protocol_version_is_refused) {
  // An edge of the version before this one (its hello is the same in every
  // version) against a hub of this one.
  auto ours = std::to_string(mm::cluster_protocol_version);
  auto old = std::to_string(mm::cluster_protocol_version - 1);
  redis_process redis;
  server_process hub{redis, hub_flags()};
  server_process edge{redis, edge_flags({hub.cluster_address()},
                                        {"--cluster-protocol", old})};
  std::string nodes;
  EXPECT_TRUE(wait_until([&] {
    nodes = shell_json(edge, "nodes");
    return nodes.find("refused") != std::string::npos;
  }))
    << nodes;
  EXPECT_NE(nodes.find("speaks protocol " + ours + ", we speak " + old
                       + ": refusing"),
            std::string::npos)
    << nodes;
  // Sessions still start on the edge, but nothing reaches the hub.
  auto stub = make_stub(edge.grpc_address());
  auto s = stream_reader::subscribe(*stub, subscribe_to({"VER"}));
  std::this_thread::sleep_for(milliseconds{500});
  EXPECT_FALSE(s->finished());
  EXPECT_EQ(json_int(shell_json(hub, "stats"), "broadcasters"), 0);
}

TEST(cluster, tls_between_nodes) {
  char dir_template[] = "/tmp/mm-cluster-tls-XXXXXX";
  auto* dir = mkdtemp(dir_template);
  ASSERT_NE(dir, nullptr);
  std::string d = dir;
  auto cert = d + "/cert.pem";
  auto key = d + "/key.pem";
  // A throwaway self-signed certificate that is its own CA.
  auto cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "
             "/CN=localhost -keyout "
             + key + " -out " + cert + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::vector<std::string> tls{"--cluster-cert", cert, "--cluster-key", key,
                               "--cluster-ca",   cert};
  {
    // The servers go before their certificate files do: a reconnecting
    // node reads them again.
    redis_process redis;
    auto hflags = hub_flags();
    hflags.insert(hflags.end(), tls.begin(), tls.end());
    server_process hub{redis, hflags};
    server_process edge{redis, edge_flags({hub.cluster_address()}, tls)};
    auto stub = make_stub(edge.grpc_address());
    auto s = stream_reader::subscribe(*stub, subscribe_to({"TLS"}));
    ASSERT_TRUE(
      wait_until([&] { return remote_subscribers(hub, "TLS") == 1; }));
    publisher pub{redis.port()};
    pub.publish_tick("TLS", 3.5, 1, 1700000000000000000);
    EXPECT_TRUE(s->wait_count("TLS", 1));
    EXPECT_TRUE(wait_until([&] { return hubs_connected(edge, 1); }));
    // An edge without TLS cannot talk to it.
    server_process plain{redis, edge_flags({hub.cluster_address()})};
    EXPECT_FALSE(hubs_connected(plain, 1)) << shell_json(plain, "nodes");
  }
  std::remove(cert.c_str());
  std::remove(key.c_str());
  ::rmdir(dir);
}

} // namespace
} // namespace mm::test
