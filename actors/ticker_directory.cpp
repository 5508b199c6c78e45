#include "actors/ticker_directory.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <type_traits>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/cluster/node_identity.hpp"
#include "actors/cluster/protocol.hpp"
#include "actors/errors.hpp"
#include "actors/gather.hpp"
#include "actors/interfaces.hpp"
#include "actors/messages.hpp"
#include "actors/metrics.hpp"
#include "actors/node_config.hpp"
#include "actors/peer_guard.hpp"
#include "actors/ticker_broadcaster.hpp"
#include "actors/tickers.hpp"
#include "logging/log.hpp"

namespace mm {

namespace {

struct directory_state;
using directory_actor =
  guarded_actor<directory_state, hub_directory_actor::base>;

struct directory_state {
  static inline constexpr const char* name = "ticker_directory";

  /// What another node (an edge) may ask: peer_guard.hpp.
  static verdict screen(directory_actor* self, const inbound& in);

  redis_listener_actor listener;
  std::unordered_map<std::string, ticker_broadcaster_actor> broadcasters;
  std::unordered_map<caf::actor_addr, std::string> tickers;
  /// The relay directories of the edges that said hello with our protocol
  /// version (hub role), monitored.
  std::unordered_map<caf::actor_addr, relay_directory_actor> edges;
  /// CAF node id -> the edge's address, for `ticker T` by node.
  std::unordered_map<std::string, std::string> edge_names;
};

/// The largest ticker list another node may ask about at once (an edge
/// asks per GetLastPrices call, which max_tickers_per_session bounds).
constexpr size_t max_remote_tickers = 10000;

verdict directory_state::screen(directory_actor*, const inbound& in) {
  if (!in.remote)
    return verdict::accept;
  // An edge's hub link: hello with its own relay directory, then lookups.
  if (in.is<hello_atom, uint32_t, caf::actor>()) {
    auto& edge = *static_cast<const caf::actor*>(in.content.get(2));
    return !edge || edge.node() == in.node() ? verdict::accept
                                             : verdict::refuse;
  }
  if (in.is<get_atom, std::string, publisher>()) {
    // Broadcasters only for valid ticker names, spawned by the handler
    // below like for a local session.
    auto& ticker = *static_cast<const std::string*>(in.content.get(1));
    return normalize_ticker(ticker) == ticker ? verdict::accept
                                              : verdict::refuse;
  }
  if (in.is<last_atom, std::vector<std::string>>()
      || in.is<health_atom, std::vector<std::string>>()) {
    auto& xs = *static_cast<const std::vector<std::string>*>(in.content.get(1));
    return xs.size() <= max_remote_tickers ? verdict::accept : verdict::refuse;
  }
  if (in.is<node_atom>() || in.is<nodes_atom>())
    return verdict::accept;
  return verdict::refuse;
}

/// Asks the broadcasters of `tickers` (those that have one) `(atom)` and
/// replies with their answers sorted by ticker: `T` is what the reply holds,
/// one vector of `T` (last_atom) or one `T` (health_atom) per broadcaster.
template <class T, class Atom>
caf::result<std::vector<T>>
ask_broadcasters(directory_actor* self, const std::vector<std::string>& tickers,
                 Atom atom) {
  auto& st = self->state;
  std::vector<ticker_broadcaster_actor> known;
  for (auto& t : tickers) {
    auto i = st.broadcasters.find(t);
    if (i != st.broadcasters.end())
      known.push_back(i->second);
  }
  using reply = std::conditional_t<std::is_same_v<T, price_update>,
                                   std::vector<price_update>, T>;
  auto acc = gather<T>::start(self, known.size(), by_ticker);
  // A broadcaster that lingered out meanwhile: its ticker is simply absent.
  ask_each<reply>(self, acc, known, caf::infinite, atom);
  return acc->delegated();
}

caf::error unknown_ticker(const std::string& ticker) {
  return caf::make_error(admin_ec::unknown_ticker,
                         "no broadcaster for ticker " + ticker
                           + ": nobody subscribes to it");
}

/// Names remote subscribers by the edge's address where we know the edge.
void name_nodes(const directory_state& st, ticker_info& x) {
  std::map<std::string, uint64_t> named;
  for (auto& [node, n] : x.remote_by_node) {
    auto i = st.edge_names.find(node);
    named[i != st.edge_names.end() ? i->second : "node " + node] += n;
  }
  x.remote_by_node = std::move(named);
}

void log_line(const std::string& line, log::level lvl = log::level::info) {
  log::write(lvl, "cluster", line);
}

hub_directory_actor::behavior_type
ticker_directory(directory_actor* self, redis_listener_actor listener,
                 const node_config* cfg, metrics* m, const node_identity* id) {
  // Watches the broadcasters it spawned (monitor); a broadcaster that ends is
  // forgotten, so the next demand for its ticker spawns a fresh one.
  self->state.listener = std::move(listener);
  self->set_down_handler([=](const caf::down_msg& dm) {
    auto& st = self->state;
    if (auto e = st.edges.find(dm.source); e != st.edges.end()) {
      auto node = to_string(e->second.node());
      auto name = st.edge_names.count(node) > 0 ? st.edge_names[node] : node;
      log_line("edge " + name + " gone: " + self->system().render(dm.reason),
               log::level::warn);
      st.edges.erase(e);
      // A reconnected edge may have said hello again before this down_msg.
      auto same_node = [&](const auto& kvp) {
        return to_string(kvp.second.node()) == node;
      };
      if (std::none_of(st.edges.begin(), st.edges.end(), same_node))
        st.edge_names.erase(node);
      return;
    }
    auto i = st.tickers.find(dm.source);
    if (i == st.tickers.end())
      return;
    auto j = st.broadcasters.find(i->second);
    if (j != st.broadcasters.end() && j->second.address() == dm.source)
      st.broadcasters.erase(j);
    st.tickers.erase(i);
  });
  // Broadcasters only linger out on their own; at shutdown they go with us.
  self->set_exit_handler([=](const caf::exit_msg& msg) {
    for (auto& kvp : self->state.broadcasters)
      self->send_exit(kvp.second, msg.reason);
    self->quit(msg.reason);
  });
  return {
    [=](get_atom, const std::string& ticker,
        const publisher& dead_hint) -> caf::result<publisher> {
      auto& st = self->state;
      auto i = st.broadcasters.find(ticker);
      if (i != st.broadcasters.end()
          && i->second.address() != dead_hint.address())
        return publisher{i->second};
      // A broadcaster that lingered out may still be in our map until its
      // down_msg arrives: the caller's dead_hint says it is gone. Replacing
      // it takes no new slot; a new ticker needs one (--max-tickers).
      if (i == st.broadcasters.end() && cfg->max_tickers > 0
          && st.broadcasters.size() >= cfg->max_tickers) {
        metrics::add(m->ticker_limit_total);
        return ticker_limit_error(cfg->max_tickers, ticker);
      }
      auto b = spawn_ticker_broadcaster(self->system(), ticker, *cfg, *m,
                                        st.listener.address());
      self->monitor(b);
      st.broadcasters[ticker] = b;
      st.tickers[b.address()] = ticker;
      self->send(st.listener, watch_atom::value, ticker, b);
      return publisher{b};
    },
    // --- from edges (hub role) ---
    [=](hello_atom, uint32_t version, const edge& edge) -> uint32_t {
      auto ours = protocol_of(*cfg);
      auto node = edge ? to_string(edge.node()) : std::string{"?"};
      if (version != ours) {
        log_line("edge " + node + " speaks protocol " + std::to_string(version)
                   + ", we speak " + std::to_string(ours) + ": refusing",
                 log::level::warn);
        return ours;
      }
      // Same version: the handle is an edge's relay directory.
      auto dir = caf::actor_cast<relay_directory_actor>(edge);
      auto& st = self->state;
      if (dir && st.edges.emplace(dir.address(), dir).second) {
        // A lost edge is a down_msg here too: its entry goes with it.
        self->monitor(dir);
        self
          ->request(dir, std::chrono::milliseconds{cfg->connection_timeout_ms},
                    node_atom::value)
          .then(
            [=](const node_info& x) {
              auto& st = self->state;
              if (st.edges.count(dir.address()) > 0) {
                st.edge_names[node] = x.address;
                log_line("edge " + x.address + " (" + node + ") joined");
              }
            },
            [](const caf::error&) {
              // Gone again already: the down_msg cleans up.
            });
      }
      return ours;
    },
    [=](node_atom) -> node_info {
      if (id != nullptr)
        return id->describe(self->system(), *m);
      node_info x;
      x.role = "standalone";
      x.state = "self";
      return x;
    },
    [=](nodes_atom) -> caf::result<std::vector<node_info>> {
      auto& st = self->state;
      auto acc = gather<node_info>::start(self, st.edges.size(), by_address);
      for (auto& kvp : st.edges)
        self
          ->request(kvp.second,
                    std::chrono::milliseconds{cfg->connection_timeout_ms},
                    node_atom::value)
          .then(
            [acc](node_info& x) {
              x.state = "connected";
              acc->add(std::move(x));
            },
            [acc](const caf::error&) { acc->skip(); });
      return acc->delegated();
    },
    [=](last_atom, const std::vector<std::string>& tickers)
      -> caf::result<std::vector<price_update>> {
      return ask_broadcasters<price_update>(self, tickers, last_atom::value);
    },
    [=](health_atom, const std::vector<std::string>& tickers)
      -> caf::result<std::vector<ticker_health>> {
      return ask_broadcasters<ticker_health>(self, tickers, health_atom::value);
    },
    // --- from the inspector ---
    [=](describe_atom) -> caf::result<std::vector<ticker_info>> {
      auto& st = self->state;
      auto acc = gather<ticker_info>::start(self, st.broadcasters.size(),
                                            by_ticker);
      for (auto& kvp : st.broadcasters)
        self->request(kvp.second, caf::infinite, describe_atom::value)
          .then(
            [=](ticker_info& x) {
              name_nodes(self->state, x);
              acc->add(std::move(x));
            },
            [acc](const caf::error&) { acc->skip(); });
      return acc->delegated();
    },
    [=](describe_atom, const std::string& ticker) -> caf::result<ticker_info> {
      auto& st = self->state;
      auto i = st.broadcasters.find(ticker);
      if (i == st.broadcasters.end())
        return unknown_ticker(ticker);
      auto rp = self->make_response_promise<ticker_info>();
      self->request(i->second, caf::infinite, describe_atom::value)
        .then(
          [=](ticker_info& x) mutable {
            name_nodes(self->state, x);
            rp.deliver(std::move(x));
          },
          [rp, ticker](const caf::error&) mutable {
            // Lingered out meanwhile.
            rp.deliver(unknown_ticker(ticker));
          });
      return rp;
    },
  };
}

} // namespace

caf::error ticker_limit_error(uint32_t limit, const std::string& ticker) {
  return caf::make_error(ec::ticker_limit,
                         "ticker limit of " + std::to_string(limit)
                           + " distinct tickers per node reached "
                             "(--max-tickers "
                           + std::to_string(limit)
                           + "): cannot subscribe ticker " + ticker);
}

hub_directory_actor spawn_ticker_directory(caf::actor_system& sys,
                                           redis_listener_actor listener,
                                           const node_config& cfg, metrics& m,
                                           const node_identity* id) {
  return sys.spawn(ticker_directory, std::move(listener), &cfg, &m, id);
}

} // namespace mm
