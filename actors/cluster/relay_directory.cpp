#include "actors/cluster/relay_directory.hpp"

#include <algorithm>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/cluster/hub_link.hpp"
#include "actors/cluster/node_identity.hpp"
#include "actors/cluster/relay.hpp"
#include "actors/cluster/rendezvous.hpp"
#include "actors/cluster/support.hpp"
#include "actors/errors.hpp"
#include "actors/gather.hpp"
#include "actors/host_port.hpp"
#include "actors/inspection.hpp"
#include "actors/messages.hpp"
#include "actors/metrics.hpp"
#include "actors/node_config.hpp"
#include "actors/peer_guard.hpp"
#include "actors/price_update.hpp"
#include "actors/ticker_directory.hpp"

namespace mm {

namespace {

using namespace cluster_detail;

struct relay_directory_state;
using directory_self =
  guarded_actor<relay_directory_state, relay_directory_actor::base>;

struct relay_directory_state {
  static inline constexpr const char* name = "relay_directory";

  /// Another node (a hub) may ask who we are, nothing else: relays are
  /// spawned for our own sessions only.
  static verdict screen(directory_self*, const inbound& in) {
    if (!in.remote || in.is<node_atom>())
      return verdict::accept;
    return verdict::refuse;
  }

  /// One link per configured hub, in the order of cfg.hubs.
  std::vector<hub_link_actor> links;
  std::unordered_map<std::string, ticker_relay_actor> relays;
  std::unordered_map<caf::actor_addr, std::string> tickers;
  /// Per link: whether its hub is up as the link last said (failover).
  std::vector<bool> alive;
  /// Per relay's ticker: the index of the link it subscribes through.
  std::unordered_map<std::string, size_t> routes;
};

/// Failover (docs/cluster.md): `hub` is lost (`up` false) or back; every
/// relay whose route changes with it moves to its new hub. Routes depend on
/// the set of hubs that are up only, so edges that see the same hubs up
/// route alike, and a returning hub gets its tickers back.
void move_relays(directory_self* self, const node_config* cfg,
                 const std::string& hub, bool up) {
  auto& st = self->state;
  auto i = std::find(cfg->hubs.begin(), cfg->hubs.end(), hub);
  if (i == cfg->hubs.end())
    return;
  auto index = static_cast<size_t>(i - cfg->hubs.begin());
  if (index >= st.links.size() || st.alive[index] == up)
    return;
  st.alive[index] = up;
  size_t moved = 0;
  for (auto& [ticker, r] : st.relays) {
    auto to = route_of(ticker, cfg->hubs, st.alive);
    auto& from = st.routes[ticker];
    if (to == from)
      continue;
    from = to;
    self->send(r, move_atom::value, st.links[to]);
    ++moved;
  }
  log_line(up ? "hub " + hub + " is back: " + std::to_string(moved)
                  + " tickers in use move back to it"
              : "hub " + hub + " is down: " + std::to_string(moved)
                  + " tickers in use move to the next hub",
           up ? log::level::info : log::level::warn);
}

relay_directory_actor::behavior_type
relay_directory(directory_self* self, const node_config* cfg, metrics* m,
                const node_identity* id, const caf::io::middleman_actor& via,
                std::vector<hub_link_actor> test_links) {
  // Watches its relays (monitor) like the hub's directory watches its
  // broadcasters; links to hubs live as long as the directory.
  auto& st = self->state;
  st.links = std::move(test_links); // tests bring their own
  st.alive.assign(cfg->hubs.size(), true);
  for (auto& hub : st.links.empty() ? cfg->hubs : std::vector<std::string>{}) {
    // --hub checked every address (app/options/server_flags.cpp).
    auto at = host_port::parse(hub, 1).value_or(host_port{});
    st.links.push_back(
      spawn_hub_link(self, hub, at.host, at.port,
                     caf::actor_cast<relay_directory_actor>(self), via, cfg,
                     m));
  }
  self->set_down_handler([=](const caf::down_msg& dm) {
    auto& st = self->state;
    auto i = st.tickers.find(dm.source);
    if (i == st.tickers.end())
      return;
    auto j = st.relays.find(i->second);
    if (j != st.relays.end() && j->second.address() == dm.source) {
      st.relays.erase(j);
      st.routes.erase(i->second);
    }
    st.tickers.erase(i);
  });
  self->set_exit_handler([=](const caf::exit_msg& msg) {
    for (auto& kvp : self->state.relays)
      self->send_exit(kvp.second, msg.reason);
    for (auto& link : self->state.links)
      self->send_exit(link, msg.reason);
    self->quit(msg.reason);
  });
  // Failover: the first hub in the ticker's rendezvous order that is up.
  auto hub_of = [=](const std::string& ticker) {
    return route_of(ticker, cfg->hubs, self->state.alive);
  };
  return {
    // --- from the node, once it knows its addresses (hubs ask for them) ---
    [=](start_atom) {
      for (auto& link : self->state.links)
        self->send(link, start_atom::value);
    },
    // --- from a hub link: its hub is lost or back ---
    [=](hub_atom, const std::string& hub, bool up) {
      move_relays(self, cfg, hub, up);
    },
    // --- from sessions ---
    [=](get_atom, const std::string& ticker,
        const publisher& dead_hint) -> caf::result<publisher> {
      auto& st = self->state;
      auto i = st.relays.find(ticker);
      if (i != st.relays.end() && i->second.address() != dead_hint.address())
        return publisher{i->second};
      // --max-tickers counts relays here, as broadcasters on a hub.
      if (i == st.relays.end() && cfg->max_tickers > 0
          && st.relays.size() >= cfg->max_tickers) {
        metrics::add(m->ticker_limit_total);
        return ticker_limit_error(cfg->max_tickers, ticker);
      }
      auto hub = hub_of(ticker);
      auto r = spawn_relay(self->system(), ticker, st.links[hub], cfg, m);
      self->monitor(r);
      st.relays[ticker] = r;
      st.tickers[r.address()] = ticker;
      st.routes[ticker] = hub;
      return publisher{r};
    },
    // --- from the gRPC layer (GetLastPrices): asks the owning hubs ---
    [=](last_atom, const std::vector<std::string>& tickers)
      -> caf::result<std::vector<price_update>> {
      std::map<size_t, std::vector<std::string>> by_hub;
      for (auto& t : tickers)
        by_hub[hub_of(t)].push_back(t);
      auto acc = gather<price_update>::start(self, by_hub.size(), by_ticker);
      for (auto& [hub, xs] : by_hub)
        self
          ->request(self->state.links[hub], request_timeout(*cfg) * 2,
                    last_atom::value, xs)
          .then([acc](const std::vector<price_update>& ys) { acc->add(ys); },
                [acc](const caf::error&) { acc->skip(); });
      return acc->delegated();
    },
    // --- from the gRPC layer (GetLastPrices): our relays know the health
    // of the tickers in use here; the owning hubs the rest ---
    [=](health_atom, const std::vector<std::string>& tickers)
      -> caf::result<std::vector<ticker_health>> {
      auto& st = self->state;
      std::vector<ticker_relay_actor> local;
      std::map<size_t, std::vector<std::string>> by_hub;
      for (auto& t : tickers) {
        if (auto i = st.relays.find(t); i != st.relays.end())
          local.push_back(i->second);
        else
          by_hub[hub_of(t)].push_back(t);
      }
      auto acc = gather<ticker_health>::start(self,
                                              local.size() + by_hub.size(),
                                              by_ticker);
      ask_each<ticker_health>(self, acc, local, request_timeout(*cfg),
                              health_atom::value);
      for (auto& [hub, xs] : by_hub)
        self
          ->request(self->state.links[hub], request_timeout(*cfg) * 2,
                    health_atom::value, xs)
          .then([acc](const std::vector<ticker_health>& ys) { acc->add(ys); },
                [acc](const caf::error&) { acc->skip(); });
      return acc->delegated();
    },
    // --- from the inspector ---
    [=](describe_atom) -> caf::result<std::vector<ticker_info>> {
      auto& st = self->state;
      auto acc = gather<ticker_info>::start(self, st.relays.size(), by_ticker);
      ask_each<ticker_info>(self, acc, st.relays, caf::infinite,
                            describe_atom::value);
      return acc->delegated();
    },
    [=](describe_atom, const std::string& ticker) -> caf::result<ticker_info> {
      auto& st = self->state;
      auto i = st.relays.find(ticker);
      auto unknown = [ticker] {
        return caf::make_error(admin_ec::unknown_ticker,
                               "no relay for ticker " + ticker
                                 + ": no session on this edge uses it");
      };
      if (i == st.relays.end())
        return unknown();
      auto rp = self->make_response_promise<ticker_info>();
      self->request(i->second, caf::infinite, describe_atom::value)
        .then([rp](const ticker_info& x) mutable { rp.deliver(x); },
              [rp, unknown](const caf::error&) mutable {
                rp.deliver(unknown());
              });
      return rp;
    },
    [=](node_atom) { return id->describe(self->system(), *m); },
    [=](nodes_atom) -> caf::result<std::vector<node_info>> {
      auto& st = self->state;
      auto acc = gather<node_info>::start(self, st.links.size(), by_address);
      for (size_t i = 0; i < st.links.size(); ++i) {
        auto address = cfg->hubs[i];
        self->request(st.links[i], request_timeout(*cfg) * 2, node_atom::value)
          .then([acc](const node_info& x) { acc->add(x); },
                [=](const caf::error& err) {
                  node_info x;
                  x.role = "hub";
                  x.address = address;
                  x.state = "unknown: " + self->system().render(err);
                  acc->add(std::move(x));
                });
      }
      return acc->delegated();
    },
  };
}

} // namespace

relay_directory_actor spawn_relay_directory(caf::actor_system& sys,
                                            const node_config& cfg, metrics& m,
                                            const node_identity& id,
                                            caf::io::middleman_actor via) {
  return sys.spawn(relay_directory, &cfg, &m, &id, std::move(via),
                   std::vector<hub_link_actor>{});
}

relay_directory_actor spawn_relay_directory(caf::actor_system& sys,
                                            const node_config& cfg, metrics& m,
                                            const node_identity& id,
                                            std::vector<hub_link_actor> links) {
  return sys.spawn(relay_directory, &cfg, &m, &id, caf::io::middleman_actor{},
                   std::move(links));
}

} // namespace mm
