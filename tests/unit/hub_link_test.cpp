// A hub link (actors/cluster/hub_link.cpp) on the test coordinator, with a
// stand-in middleman actor and hub directory: it connects once started,
// checks the protocol version, delegates lookups while connected, answers
// with the documented error while the hub is away, and tells the relay
// directory when its hub comes or goes.

#include "actors/cluster/hub_link.hpp"

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "actors/cluster/protocol.hpp"
#include "actors/inspection.hpp"
#include "actors/price_update.hpp"

#include "actor_fixture.hpp"
#include "fake_hub.hpp"

using namespace mm;
using namespace mm::test;

namespace {

/// What the stand-in network and hub saw, and how they behave.
struct net_state {
  /// The hub's directory, as a connect reaches it (null: nobody listens).
  caf::actor hub_dir;
  /// Connection attempts: (host, port).
  std::vector<std::pair<std::string, uint16_t>> connects;
  /// While set, connect answers wait until told (ok_atom).
  bool hold = false;
  std::vector<caf::response_promise> held;
  /// The protocol version the hub speaks.
  uint32_t version = cluster_protocol_version;
  /// The hellos the hub got: (version, edge directory).
  std::vector<std::pair<uint32_t, caf::actor>> hellos;
  /// The hub's broadcaster of every ticker.
  publisher broadcaster;
};

using net_ptr = std::shared_ptr<net_state>;

/// Stands in for CAF's middleman actor: `connect` reaches `hub_dir`.
caf::behavior fake_middleman(caf::event_based_actor* self, net_ptr net) {
  auto answer = [=](caf::response_promise& rp) {
    if (!net->hub_dir) {
      rp.deliver(caf::make_error(caf::sec::cannot_connect_to_node,
                                 "connection refused"));
      return;
    }
    rp.deliver(net->hub_dir.node(),
               caf::actor_cast<caf::strong_actor_ptr>(net->hub_dir),
               std::set<std::string>{});
  };
  return {
    [=](connect_atom, const std::string& host,
        uint16_t port) -> caf::result<caf::node_id, caf::strong_actor_ptr,
                                      std::set<std::string>> {
      net->connects.emplace_back(host, port);
      auto rp = self->make_response_promise();
      if (net->hold)
        net->held.push_back(rp);
      else
        answer(rp);
      return caf::delegated<caf::node_id, caf::strong_actor_ptr,
                            std::set<std::string>>{};
    },
    [=](ok_atom) {
      auto held = std::move(net->held);
      net->held.clear();
      for (auto& rp : held)
        answer(rp);
    },
  };
}

/// Stands in for a hub's ticker directory.
caf::behavior fake_hub_directory(caf::event_based_actor*, net_ptr net) {
  return {
    [=](hello_atom, uint32_t version, const caf::actor& edge) {
      net->hellos.emplace_back(version, edge);
      return net->version;
    },
    [=](get_atom, const std::string&, const publisher&) {
      return net->broadcaster;
    },
    [=](last_atom, const std::vector<std::string>& tickers) {
      std::vector<price_update> xs;
      for (auto& t : tickers) {
        xs.emplace_back();
        xs.back().ticker = t;
        xs.back().price = 9;
      }
      return xs;
    },
    [=](health_atom, const std::vector<std::string>& tickers) {
      std::vector<ticker_health> xs;
      for (auto& t : tickers) {
        xs.emplace_back();
        xs.back().ticker = t;
        xs.back().upstream_connected = true;
      }
      return xs;
    },
    [=](node_atom) {
      node_info x;
      x.role = "hub";
      x.node_id = "the hub";
      return x;
    },
  };
}

class hub_link_test : public actor_fixture {
public:
  hub_link_test() : net(std::make_shared<net_state>()) {
    ncfg.role = node_role::edge;
    ncfg.hubs = {"a:1"};
    ncfg.hub_retry_max_ms = 1000;
    ncfg.connection_timeout_ms = 1000;
    net->broadcaster = sys.spawn(fake_broadcaster,
                                 std::make_shared<hub_record>(),
                                 std::string{"AAPL"});
    cleanup.push_back(net->broadcaster);
    via = sys.spawn(fake_middleman, net);
    cleanup.push_back(via);
    // Stands in for the relay directory: records (hub_atom, address, up).
    auto reports = hub_reports;
    peer = sys.spawn([reports](caf::event_based_actor*) -> caf::behavior {
      return {
        [reports](hub_atom, const std::string& hub, bool up) {
          reports->emplace_back(hub, up);
        },
      };
    });
    cleanup.push_back(peer);
  }

  /// The hub's directory starts listening.
  void hub_up() {
    net->hub_dir = sys.spawn(fake_hub_directory, net);
    cleanup.push_back(net->hub_dir);
  }

  /// Spawns the link under test, with the scoped actor as its parent.
  void spawn_link() {
    link = spawn_hub_link(self.ptr(), "a:1", "a", 1,
                          caf::actor_cast<relay_directory_actor>(peer),
                          caf::actor_cast<caf::io::middleman_actor>(via), &ncfg,
                          &m);
    cleanup.push_back(link);
    run();
  }

  /// Tells the link to connect, as the relay directory does.
  void start() {
    self->send(link, start_atom::value);
    run();
  }

  /// The link's answer to `(get_atom, ticker, null)`.
  caf::expected<publisher> get() {
    self->send(link, get_atom::value, std::string{"AAPL"}, publisher{});
    run();
    return fetch_expected<publisher>();
  }

  node_info node() {
    self->send(link, node_atom::value);
    run();
    return fetch<node_info>();
  }

  net_ptr net;
  caf::actor via;
  /// Stands in for the relay directory (hub_atom only).
  caf::actor peer;
  hub_link_actor link;
  std::shared_ptr<std::vector<std::pair<std::string, bool>>> hub_reports =
    std::make_shared<std::vector<std::pair<std::string, bool>>>();
};

TEST_F(hub_link_test, connects_only_once_started) {
  hub_up();
  spawn_link();
  EXPECT_TRUE(net->connects.empty());
  auto b = get();
  ASSERT_FALSE(b);
  EXPECT_NE(sys.render(b.error()).find("hub a:1 unavailable: not started"),
            std::string::npos)
    << sys.render(b.error());
  start();
  ASSERT_EQ(net->connects.size(), 1u);
  EXPECT_EQ(net->connects[0].first, "a");
  EXPECT_EQ(net->connects[0].second, 1u);
}

TEST_F(hub_link_test,
       says_hello_with_our_version_and_delegates_while_connected) {
  hub_up();
  spawn_link();
  start();
  ASSERT_EQ(net->hellos.size(), 1u);
  EXPECT_EQ(net->hellos[0].first, cluster_protocol_version);
  EXPECT_EQ(net->hellos[0].second, peer);
  EXPECT_EQ(m.cluster_links_up.load(), 1);
  // A hub that was never reported down is not reported up again.
  EXPECT_TRUE(hub_reports->empty());
  auto b = get();
  ASSERT_TRUE(b) << sys.render(b.error());
  EXPECT_EQ(*b, net->broadcaster);
  self->send(link, last_atom::value, std::vector<std::string>{"AAPL"});
  run();
  auto xs = fetch<std::vector<price_update>>();
  ASSERT_EQ(xs.size(), 1u);
  EXPECT_EQ(xs[0].price, 9);
  self->send(link, health_atom::value, std::vector<std::string>{"AAPL"});
  run();
  auto hs = fetch<std::vector<ticker_health>>();
  ASSERT_EQ(hs.size(), 1u);
  EXPECT_TRUE(hs[0].upstream_connected);
  auto x = node();
  EXPECT_EQ(x.node_id, "the hub");
  EXPECT_EQ(x.address, "a:1");
  EXPECT_EQ(x.state, "connected");
}

TEST_F(hub_link_test, answers_for_a_hub_that_is_away_and_reports_it_down) {
  spawn_link();
  start();
  ASSERT_EQ(hub_reports->size(), 1u);
  EXPECT_EQ(hub_reports->back(), std::make_pair(std::string{"a:1"}, false));
  auto b = get();
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error(), caf::sec::request_receiver_down);
  EXPECT_NE(sys.render(b.error()).find("hub a:1 unavailable: connecting"),
            std::string::npos)
    << sys.render(b.error());
  self->send(link, last_atom::value, std::vector<std::string>{"AAPL"});
  run();
  EXPECT_TRUE(fetch<std::vector<price_update>>().empty());
  self->send(link, health_atom::value, std::vector<std::string>{"AAPL"});
  run();
  auto hs = fetch<std::vector<ticker_health>>();
  ASSERT_EQ(hs.size(), 1u);
  EXPECT_EQ(hs[0].ticker, "AAPL");
  EXPECT_FALSE(hs[0].upstream_connected);
  EXPECT_TRUE(hs[0].last.empty());
  EXPECT_EQ(node().state, "connecting");
  EXPECT_EQ(m.cluster_links_up.load(), 0);
  // It retries with backoff and reports the hub up once it answers.
  hub_up();
  advance(ncfg.hub_retry_max_ms);
  EXPECT_EQ(net->connects.size(), 2u);
  EXPECT_EQ(hub_reports->back(), std::make_pair(std::string{"a:1"}, true));
  EXPECT_EQ(m.cluster_links_up.load(), 1);
  auto again = get();
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, net->broadcaster);
}

TEST_F(hub_link_test, reports_a_lost_hub_and_reconnects) {
  hub_up();
  spawn_link();
  start();
  ASSERT_EQ(m.cluster_links_up.load(), 1);
  caf::anon_send_exit(net->hub_dir, caf::exit_reason::remote_link_unreachable);
  net->hub_dir = nullptr;
  run();
  ASSERT_EQ(hub_reports->size(), 1u);
  EXPECT_EQ(hub_reports->back(), std::make_pair(std::string{"a:1"}, false));
  EXPECT_EQ(m.cluster_links_up.load(), 0);
  EXPECT_FALSE(get());
  hub_up();
  advance(ncfg.hub_retry_max_ms);
  ASSERT_EQ(hub_reports->size(), 2u);
  EXPECT_EQ(hub_reports->back(), std::make_pair(std::string{"a:1"}, true));
  EXPECT_EQ(net->hellos.size(), 2u);
  EXPECT_TRUE(get());
}

TEST_F(hub_link_test, requests_wait_for_the_connection_on_its_way) {
  hub_up();
  net->hold = true;
  spawn_link();
  start();
  self->send(link, get_atom::value, std::string{"AAPL"}, publisher{});
  run();
  EXPECT_FALSE(has_message());
  self->send(via, ok_atom::value);
  run();
  EXPECT_EQ(fetch<publisher>(), net->broadcaster);
}

TEST_F(hub_link_test, refuses_a_hub_of_another_protocol_version) {
  hub_up();
  net->version = cluster_protocol_version + 1;
  spawn_link();
  start();
  EXPECT_EQ(m.cluster_links_up.load(), 0);
  ASSERT_EQ(hub_reports->size(), 1u);
  EXPECT_FALSE(hub_reports->back().second);
  auto state = node().state;
  EXPECT_EQ(state.rfind("refused: ", 0), 0u) << state;
  EXPECT_NE(state.find("speaks protocol"), std::string::npos) << state;
  EXPECT_FALSE(get());
}

TEST_F(hub_link_test, its_exit_takes_it_off_the_links_up) {
  hub_up();
  spawn_link();
  start();
  ASSERT_EQ(m.cluster_links_up.load(), 1);
  self->send_exit(link, caf::exit_reason::user_shutdown);
  run();
  EXPECT_EQ(m.cluster_links_up.load(), 0);
}

} // namespace
