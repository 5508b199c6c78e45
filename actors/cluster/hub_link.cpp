#include "actors/cluster/hub_link.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/local_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/cluster/protocol.hpp"
#include "actors/cluster/support.hpp"
#include "actors/inspection.hpp"
#include "actors/messages.hpp"
#include "actors/metrics.hpp"
#include "actors/node_config.hpp"
#include "actors/peer_guard.hpp"
#include "actors/price_update.hpp"

namespace mm {

namespace {

using namespace cluster_detail;

caf::error hub_unavailable(const std::string& address, const std::string& why) {
  return caf::make_error(caf::sec::request_receiver_down,
                         "hub " + address + " unavailable: " + why);
}

// --- hub link: one per configured hub ---------------------------------------

/// The link's interface with its own timer.
using link_impl = hub_link_actor::extend<
  // Connect again (backoff).
  caf::reacts_to<retry_atom>>;

struct link_state;
using link_actor = guarded_actor<link_state, link_impl::base>;

struct link_state {
  static inline constexpr const char* name = "hub_link";

  /// Serves our relays and directory only: no other node may ask it
  /// anything (the hub's replies are responses, which always pass).
  static verdict screen(link_actor*, const inbound& in) {
    return in.remote ? verdict::refuse : verdict::accept;
  }

  std::string address;
  std::string host;
  uint16_t port = 0;
  /// Our relay directory: the hub monitors it and asks it for `node`.
  relay_directory_actor peer;
  /// The middleman actor we connect through (node::cluster_middleman).
  caf::io::middleman_actor via;
  /// Counts the link in cluster_links_up while `dir` is set.
  metrics* stats = nullptr;
  /// The hub's directory while connected (and monitored).
  hub_directory_actor dir;
  /// Set by (start_atom): the node knows its addresses, hubs may ask.
  bool started = false;
  /// A connection attempt (connect + hello) is on its way.
  bool connecting = false;
  uint32_t attempt = 0;
  /// "connecting", "connected" or "refused: ...", for `nodes`.
  std::string status = "not started";
  /// The last problem logged, so a hub that stays away logs once.
  std::string logged;
  /// Requests that came while connecting; answered once that ends.
  std::vector<std::function<void(bool)>> waiting;
  std::minstd_rand rng = seeded_rng();
  /// What the relay directory last heard from us (`hub_atom`): a hub counts
  /// as up until an attempt fails or the connection is lost (failover).
  bool reported_up = true;
};

void try_connect(link_actor* self, const node_config* cfg);

/// Tells the relay directory when the hub comes or goes, so that it moves
/// the hub's tickers (failover, docs/cluster.md).
void report(link_actor* self) {
  auto& st = self->state;
  bool up = static_cast<bool>(st.dir);
  if (up == st.reported_up)
    return;
  st.reported_up = up;
  self->send(st.peer, hub_atom::value, st.address, up);
}

void flush_waiting(link_actor* self) {
  report(self);
  auto waiting = std::move(self->state.waiting);
  self->state.waiting.clear();
  bool up = static_cast<bool>(self->state.dir);
  for (auto& f : waiting)
    f(up);
}

void connect_failed(link_actor* self, const node_config* cfg,
                    const std::string& why, bool refused) {
  auto& st = self->state;
  st.connecting = false;
  if (refused)
    st.status = "refused: " + why;
  else
    st.status = "connecting";
  if (st.logged != why) {
    st.logged = why;
    log_line(refused
               ? why
               : "cannot reach hub " + st.address + ": " + why + " (retrying)",
             log::level::warn);
  }
  flush_waiting(self);
  // A refusing hub may be upgraded meanwhile: ask again, but rarely.
  auto delay = refused ? std::chrono::milliseconds{cfg->hub_retry_max_ms}
                       : backoff(st.attempt++, cfg->hub_retry_max_ms, st.rng);
  self->delayed_send(self, delay, retry_atom::value);
}

void try_connect(link_actor* self, const node_config* cfg) {
  auto& st = self->state;
  if (!st.started || st.dir || st.connecting)
    return;
  st.connecting = true;
  // The middleman actor connects on its own thread: no scheduler thread
  // blocks here, however long the hub takes (with --cluster-secret-file it
  // also runs the challenge there).
  auto mm = st.via;
  auto timeout = request_timeout(*cfg);
  self->request(mm, timeout, connect_atom::value, st.host, st.port)
    .then(
      [=](const caf::node_id&, const caf::strong_actor_ptr& ptr,
          const std::set<std::string>&) {
        if (!ptr) {
          connect_failed(self, cfg, "no actor published there", false);
          return;
        }
        auto dir = caf::actor_cast<hub_directory_actor>(ptr);
        auto ours = protocol_of(*cfg);
        // Only builtin types until both sides know they speak the same
        // protocol: those read the same in every version (the directory
        // as a plain `edge` handle).
        self
          ->request(dir, timeout, hello_atom::value, ours,
                    caf::actor_cast<edge>(self->state.peer))
          .then(
            [=](uint32_t theirs) {
              auto& st = self->state;
              if (theirs != ours) {
                connect_failed(self, cfg,
                               "hub " + st.address + " speaks protocol "
                                 + std::to_string(theirs) + ", we speak "
                                 + std::to_string(ours) + ": refusing",
                               true);
                return;
              }
              st.connecting = false;
              st.dir = dir;
              st.attempt = 0;
              st.status = "connected";
              st.logged.clear();
              st.stats->count_hub_link(1);
              self->monitor(dir);
              log_line("connected to hub " + st.address);
              flush_waiting(self);
            },
            [=](const caf::error& err) {
              connect_failed(self, cfg,
                             "no handshake: " + self->system().render(err),
                             false);
            });
      },
      [=](const caf::error& err) {
        connect_failed(self, cfg, self->system().render(err), false);
      });
}

/// Runs `f(up)` now if the link is settled, or once the attempt on its way
/// ends.
template <class F>
void when_settled(link_actor* self, F f) {
  if (self->state.connecting)
    self->state.waiting.emplace_back(std::move(f));
  else
    f(static_cast<bool>(self->state.dir));
}

link_impl::behavior_type hub_link(link_actor* self, std::string address,
                                  std::string host, uint16_t port,
                                  relay_directory_actor peer,
                                  const caf::io::middleman_actor& via,
                                  const node_config* cfg, metrics* m) {
  // Keeps one hub's directory at hand: connects (async, through the
  // middleman actor), checks the protocol version, monitors the directory
  // and reconnects with capped backoff when it goes down. The relays do
  // their own failure handling; this only answers their lookups.
  auto& st = self->state;
  st.address = std::move(address);
  st.host = std::move(host);
  st.port = port;
  st.peer = std::move(peer);
  st.via = via;
  st.stats = m;
  self->set_down_handler([=](const caf::down_msg& dm) {
    auto& st = self->state;
    if (!st.dir || dm.source != st.dir.address())
      return;
    log_line("lost hub " + st.address + ": " + self->system().render(dm.reason)
               + " (reconnecting)",
             log::level::warn);
    st.dir = hub_directory_actor{};
    st.stats->count_hub_link(-1);
    st.status = "connecting";
    st.logged.clear();
    report(self);
    self->delayed_send(self,
                       backoff(st.attempt++, cfg->hub_retry_max_ms, st.rng),
                       retry_atom::value);
  });
  self->set_exit_handler([=](const caf::exit_msg& msg) {
    // docs/architecture.md rule 7: the hub's directory outlives us; leave
    // no monitor behind.
    if (self->state.dir) {
      self->demonitor(self->state.dir.address());
      self->state.stats->count_hub_link(-1);
    }
    self->quit(msg.reason);
  });
  return {
    [=](start_atom) {
      self->state.started = true;
      try_connect(self, cfg);
    },
    [=](retry_atom) { try_connect(self, cfg); },
    // --- from relays ---
    [=](get_atom, const std::string& ticker,
        const publisher& dead_hint) -> caf::result<publisher> {
      auto rp = self->make_response_promise<publisher>();
      when_settled(self, [=](bool up) mutable {
        auto& st = self->state;
        if (!up) {
          rp.deliver(hub_unavailable(st.address, st.status));
          return;
        }
        rp.delegate(st.dir, get_atom::value, ticker, dead_hint);
      });
      return rp;
    },
    // --- from the relay directory ---
    [=](last_atom, const std::vector<std::string>& tickers)
      -> caf::result<std::vector<price_update>> {
      auto rp = self->make_response_promise<std::vector<price_update>>();
      when_settled(self, [=](bool up) mutable {
        if (!up) {
          // A hub away: its tickers have no known last price now.
          rp.deliver(std::vector<price_update>{});
          return;
        }
        rp.delegate(self->state.dir, last_atom::value, tickers);
      });
      return rp;
    },
    [=](health_atom, const std::vector<std::string>& tickers)
      -> caf::result<std::vector<ticker_health>> {
      auto rp = self->make_response_promise<std::vector<ticker_health>>();
      when_settled(self, [=](bool up) mutable {
        if (!up) {
          // A hub away: its tickers' upstream is down, with nothing known.
          std::vector<ticker_health> xs;
          for (auto& t : tickers) {
            xs.emplace_back();
            xs.back().ticker = t;
          }
          rp.deliver(std::move(xs));
          return;
        }
        rp.delegate(self->state.dir, health_atom::value, tickers);
      });
      return rp;
    },
    [=](node_atom) -> caf::result<node_info> {
      auto& st = self->state;
      node_info x;
      x.role = "hub";
      x.address = st.address;
      x.state = st.status;
      if (!st.dir)
        return x;
      auto rp = self->make_response_promise<node_info>();
      // A healthy hub answers in milliseconds: within a heartbeat interval
      // or it shows as unreachable (the link itself waits for the monitor).
      auto patience = std::chrono::milliseconds{
        std::max<uint32_t>(100, cfg->heartbeat_interval_ms)};
      self->request(st.dir, patience, node_atom::value)
        .then(
          [=](node_info& y) mutable {
            y.address = x.address; // as configured here
            y.state = "connected";
            rp.deliver(std::move(y));
          },
          [=](const caf::error& err) mutable {
            auto y = x;
            y.state = "unreachable: " + self->system().render(err);
            rp.deliver(std::move(y));
          });
      return rp;
    },
  };
}

} // namespace

hub_link_actor spawn_hub_link(caf::local_actor* parent, std::string address,
                              std::string host, uint16_t port,
                              relay_directory_actor peer,
                              caf::io::middleman_actor via,
                              const node_config* cfg, metrics* m) {
  return parent->spawn(hub_link, std::move(address), std::move(host), port,
                       std::move(peer), std::move(via), cfg, m);
}

} // namespace mm
