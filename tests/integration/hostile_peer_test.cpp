// End-to-end: a hostile CAF peer (this test process, with its own actor
// system and CAF's middleman) connects to a hub's cluster port and to the
// admin ports of a hub and an edge, and sends what no legitimate node sends:
// forged ticks, broadcaster lookups for 10,000 made-up tickers, an exit
// message, messages that only local actors send, random messages. Nothing
// reaches the gRPC client, no broadcaster appears for a made-up ticker, the
// peer is disconnected, the nodes keep serving and go idle (docs/security.md).

#include "tests/integration/harness.hpp"
#include "tests/integration/node_stats.hpp"

#include <chrono>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/after.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/interfaces.hpp"
#include "actors/messages.hpp"
#include "actors/node.hpp"

namespace mm::test {
namespace {

std::vector<std::string> cluster_flags() {
  return {"--heartbeat-interval-ms",
          "200",
          "--connection-timeout-ms",
          "1000",
          "--linger-ms",
          "300",
          "--attach-timeout-ms",
          "1000"};
}

std::pair<std::string, uint16_t> split(const std::string& address) {
  auto pos = address.rfind(':');
  return {address.substr(0, pos),
          static_cast<uint16_t>(std::stoul(address.substr(pos + 1)))};
}

/// The hostile peer: a CAF node of its own.
class hostile_peer {
public:
  hostile_peer() : sys_(make_config()), self_(sys_) {
    // nop
  }

  /// Connects (again) to the actor published at `address`.
  caf::actor connect(const std::string& address) {
    auto [host, port] = split(address);
    auto res = sys_.middleman().remote_actor(host, port);
    if (!res) {
      ADD_FAILURE() << "cannot connect to " << address << ": "
                    << sys_.render(res.error());
      return {};
    }
    return *res;
  }

  /// Connects to the inspector published at `address` with its interface,
  /// as the shell does (CAF refuses a connection that expects another one),
  /// and returns it untyped: the peer sends whatever it likes through it.
  caf::actor connect_inspector(const std::string& address) {
    auto [host, port] = split(address);
    auto res = sys_.middleman().remote_actor<inspector_actor>(host, port);
    if (!res) {
      ADD_FAILURE() << "cannot connect to " << address << ": "
                    << sys_.render(res.error());
      return {};
    }
    return caf::actor_cast<caf::actor>(*res);
  }

  /// Whether connecting without the inspector's interface fails.
  bool untyped_refused(const std::string& address) {
    auto [host, port] = split(address);
    auto res = sys_.middleman().remote_actor(host, port);
    return !res
           && res.error() == caf::sec::unexpected_actor_messaging_interface;
  }

  /// Connects to the hub's cluster port until its directory answers:
  /// refusals of messages from an earlier connection that are still in the
  /// directory's mailbox close a new connection of the same node too.
  caf::actor directory(const std::string& address) {
    caf::actor result;
    wait_until([&] {
      auto dir = connect(address);
      if (!dir)
        return false;
      bool ok = false;
      self_->request(dir, std::chrono::seconds(1), node_atom::value)
        .receive([&](const node_info&) { ok = true; },
                 [&](const caf::error&) {});
      if (ok)
        result = dir;
      return ok;
    });
    return result;
  }

  caf::scoped_actor& self() {
    return self_;
  }

  /// Whether the connection that `hdl` came through closes within
  /// `timeout`: its proxy goes down (remote_link_unreachable).
  bool disconnected(const caf::actor& hdl,
                    milliseconds timeout = milliseconds{5000}) {
    bool down = false;
    bool timed_out = false;
    self_->monitor(hdl);
    self_->receive_while([&] { return !down && !timed_out; })(
      [&](const caf::down_msg& dm) {
        if (dm.source == hdl.address())
          down = true;
      },
      [](const caf::error&) {
        // A refused request's error: not what we wait for.
      },
      caf::after(timeout) >> [&] { timed_out = true; });
    return down;
  }

private:
  static caf::actor_system_config& make_config() {
    static caf::actor_system_config cfg;
    static bool once = [] {
      mm::configure(cfg);
      cfg.set("middleman.heartbeat-interval",
              caf::timespan{std::chrono::milliseconds(200)});
      return true;
    }();
    (void) once;
    return cfg;
  }

  caf::actor_system sys_;
  caf::scoped_actor self_;
};

/// The price no feed publishes: whatever carries it is forged.
constexpr double forged_price = 666.25;

bool saw_forged(stream_reader& s) {
  for (auto& u : s.updates())
    if (u.price() == forged_price)
      return true;
  return false;
}

} // namespace

TEST(hostile_peer, is_refused_disconnected_and_changes_nothing) {
  redis_process redis;
  auto hub_flags = cluster_flags();
  hub_flags.insert(hub_flags.end(),
                   {"--role", "hub", "--cluster-listen", "127.0.0.1:0"});
  server_process hub{redis, hub_flags};
  auto edge_flags = cluster_flags();
  edge_flags.insert(edge_flags.end(),
                    {"--role", "edge", "--hub", hub.cluster_address(),
                     "--hub-retry-max-ms", "500"});
  server_process edge{redis, edge_flags};
  admin_client hub_admin{hub.admin_address()};
  admin_client edge_admin{edge.admin_address()};
  // A real client on the edge, with a real tick before the attack.
  auto stub = make_stub(edge.grpc_address());
  pb::SubscribeRequest req;
  req.add_tickers("HPA");
  req.mutable_options()->set_mode(pb::DELIVERY_MODE_ALL);
  auto client = stream_reader::subscribe(*stub, req);
  publisher pub{redis.port()};
  ASSERT_TRUE(pub.wait_subscribed("HPA"));
  ASSERT_TRUE(wait_until([&] {
    pub.publish_tick("HPA", 100, 1, 1700000000000000001);
    return client->wait_count("HPA", 1, milliseconds{100});
  }));
  auto ts = int64_t{1700000000000000100};
  hostile_peer peer;
  auto& self = peer.self();
  // 1. The cluster port hands out the broadcaster of a valid ticker, as it
  // does for every edge; a forged tick to it is refused and ends the
  // connection. (The peer sends through plain handles what the typed ones
  // would not let it.)
  auto dir = peer.connect(hub.cluster_address());
  ASSERT_TRUE(dir);
  caf::actor hpa;
  self
    ->request(dir, std::chrono::seconds(5), get_atom::value, std::string{"HPA"},
              mm::publisher{})
    .receive(
      [&](const mm::publisher& b) { hpa = caf::actor_cast<caf::actor>(b); },
      [&](const caf::error& err) {
        FAIL() << "get HPA: " << self->system().render(err);
      });
  ASSERT_TRUE(hpa);
  for (int i = 0; i < 100; ++i)
    self->send(hpa, tick{forged_price, 1, ts + i});
  EXPECT_TRUE(peer.disconnected(hpa));
  // 2. Broadcasters for 10,000 made-up tickers: none is a valid name.
  dir = peer.directory(hub.cluster_address());
  ASSERT_TRUE(dir);
  for (int i = 0; i < 10000; ++i)
    self->send(dir, get_atom::value, "made-up ticker " + std::to_string(i),
               mm::publisher{});
  EXPECT_TRUE(peer.disconnected(dir));
  // 3. An exit message (CAF sends it anonymously: it cannot say who the
  // peer is, so it is dropped without a disconnect), then what only local
  // actors send: the inspector's describe, the listener's upstream state.
  dir = peer.directory(hub.cluster_address());
  ASSERT_TRUE(dir);
  self->send_exit(dir, caf::exit_reason::kill);
  self->send(dir, describe_atom::value);
  EXPECT_TRUE(peer.disconnected(dir));
  // The refusals of messages still queued from the connections above can
  // land after the reconnect: the guard disconnects by node, and the new
  // connection is the same node's (seen in a fresh-clone run: a lost
  // request, request_timeout). So the directory gets three connections to
  // answer on.
  caf::actor again;
  std::string why;
  for (int attempt = 0; attempt < 3 && !again; ++attempt) {
    dir = peer.directory(hub.cluster_address());
    ASSERT_TRUE(dir);
    self
      ->request(dir, std::chrono::seconds(5), get_atom::value,
                std::string{"HPA"}, mm::publisher{})
      .receive(
        [&](const mm::publisher& b) { again = caf::actor_cast<caf::actor>(b); },
        [&](const caf::error& err) { why = self->system().render(err); });
  }
  ASSERT_TRUE(again) << "the directory no longer answers: " << why;
  EXPECT_EQ(again, hpa) << "the broadcaster was replaced";
  self->send(again, upstream_atom::value, false);
  EXPECT_TRUE(peer.disconnected(again));
  // 4. Random messages to the cluster port.
  dir = peer.directory(hub.cluster_address());
  ASSERT_TRUE(dir);
  self->send(dir, std::string{"random"}, 42, 3.5);
  EXPECT_TRUE(peer.disconnected(dir));
  // 5. The admin ports: a tick and a lookup to the inspectors, and a watch
  // that would subscribe an actor of another node (the hub's directory,
  // claimed to be a subscriber).
  EXPECT_TRUE(peer.untyped_refused(hub.admin_address()));
  auto hub_inspector = peer.connect_inspector(hub.admin_address());
  ASSERT_TRUE(hub_inspector);
  self->send(hub_inspector, tick{forged_price, 1, ts});
  EXPECT_TRUE(peer.disconnected(hub_inspector));
  auto edge_inspector = peer.connect_inspector(edge.admin_address());
  ASSERT_TRUE(edge_inspector);
  self->send(edge_inspector, get_atom::value, std::string{"HPB"}, caf::actor{});
  EXPECT_TRUE(peer.disconnected(edge_inspector));
  edge_inspector = peer.connect_inspector(edge.admin_address());
  dir = peer.directory(hub.cluster_address());
  ASSERT_TRUE(edge_inspector && dir);
  self->send(edge_inspector, watch_atom::value, std::string{},
             std::vector<std::string>{"HPC"},
             caf::actor_cast<mm::subscriber>(dir));
  EXPECT_TRUE(peer.disconnected(edge_inspector));
  // The nodes keep serving the real client: a real tick arrives, no forged
  // one ever did, and only HPA has a broadcaster and a Redis subscription.
  pub.publish_tick("HPA", 101, 1, ts + 1000);
  EXPECT_TRUE(client->wait_update("HPA", [](const pb::PriceUpdate& u) {
    return u.price() == 101;
  }));
  EXPECT_FALSE(saw_forged(*client));
  EXPECT_FALSE(client->finished());
  auto hub_stats = hub_admin.stats();
  EXPECT_EQ(hub_stats.broadcasters, 1) << hub_stats.describe();
  EXPECT_EQ(hub_stats.redis_subscriptions, 1) << hub_stats.describe();
  for (auto t : {"HPB", "HPC"}) {
    EXPECT_EQ(pub.subscribers(t), 0) << t;
  }
  // A new client on the edge still gets its session and ticks.
  pb::SubscribeRequest req2;
  req2.add_tickers("HPD");
  req2.mutable_options()->set_mode(pb::DELIVERY_MODE_ALL);
  auto client2 = stream_reader::subscribe(*stub, req2);
  ASSERT_TRUE(pub.wait_subscribed("HPD"));
  ASSERT_TRUE(wait_until([&] {
    pub.publish_tick("HPD", 7, 1, ts + 2000);
    return client2->wait_count("HPD", 1, milliseconds{100});
  }));
  EXPECT_FALSE(saw_forged(*client2));
  // Everyone leaves: both nodes go idle.
  client->cancel();
  client2->cancel();
  for (auto* admin : {&hub_admin, &edge_admin}) {
    node_stats last;
    EXPECT_TRUE(wait_until(
      [&] {
        last = admin->stats();
        return last.idle();
      },
      milliseconds{10000}))
      << last.describe();
  }
}

} // namespace mm::test
