#include "actors/cluster.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <unordered_map>
#include <utility>

#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/errors.hpp"
#include "actors/gather.hpp"
#include "actors/messages.hpp"
#include "actors/metrics.hpp"
#include "actors/node_config.hpp"
#include "actors/peer_guard.hpp"
#include "actors/ticker_directory.hpp"
#include "actors/update_history.hpp"
#include "logging/log.hpp"

namespace mm {

// --- free functions ----------------------------------------------------------

uint32_t protocol_of(const node_config& cfg) {
  return cfg.cluster_protocol != 0 ? cfg.cluster_protocol
                                   : cluster_protocol_version;
}

const char* to_string(node_role x) {
  switch (x) {
    case node_role::hub: return "hub";
    case node_role::edge: return "edge";
    default: return "standalone";
  }
}

namespace {

uint64_t fnv1a(uint64_t h, const std::string& x) {
  for (auto c : x) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

/// splitmix64's finalizer: spreads FNV's weak low bits over the word.
uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

} // namespace

size_t owner_of(const std::string& ticker,
                const std::vector<std::string>& hubs) {
  size_t best = 0;
  uint64_t best_weight = 0;
  for (size_t i = 0; i < hubs.size(); ++i) {
    // A separator, so that ("AB", "C:1") and ("A", "BC:1") differ.
    auto h = fnv1a(fnv1a(14695981039346656037ull, ticker) ^ 0xff, hubs[i]);
    auto weight = mix(h);
    // Ties (never seen in practice) go to the smaller address: still the
    // same answer on every node.
    if (i == 0 || weight > best_weight
        || (weight == best_weight && hubs[i] < hubs[best])) {
      best = i;
      best_weight = weight;
    }
  }
  return best;
}

std::vector<size_t> rendezvous_order(const std::string& ticker,
                                     const std::vector<std::string>& hubs) {
  std::vector<std::pair<uint64_t, size_t>> weighted;
  for (size_t i = 0; i < hubs.size(); ++i)
    weighted.emplace_back(
      mix(fnv1a(fnv1a(14695981039346656037ull, ticker) ^ 0xff, hubs[i])), i);
  // Highest weight first; ties to the smaller address, as in owner_of.
  std::sort(weighted.begin(), weighted.end(),
            [&](const auto& x, const auto& y) {
              if (x.first != y.first)
                return x.first > y.first;
              return hubs[x.second] < hubs[y.second];
            });
  std::vector<size_t> result;
  result.reserve(weighted.size());
  for (auto& x : weighted)
    result.push_back(x.second);
  return result;
}

size_t route_of(const std::string& ticker, const std::vector<std::string>& hubs,
                const std::vector<bool>& alive) {
  auto order = rendezvous_order(ticker, hubs);
  for (auto i : order)
    if (i < alive.size() && alive[i])
      return i;
  // No hub up: wait for the owner, as without failover.
  return order.empty() ? 0 : order.front();
}

node_identity::node_identity(node_role role) : role_(role) {
  using namespace std::chrono;
  up_since_ms_ =
    duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

void node_identity::set_addresses(std::string address, std::string admin) {
  std::lock_guard<std::mutex> guard{mtx_};
  address_ = std::move(address);
  admin_ = std::move(admin);
}

node_info node_identity::describe(const caf::actor_system& sys,
                                  const metrics& m) const {
  node_info x;
  x.role = to_string(role_);
  {
    std::lock_guard<std::mutex> guard{mtx_};
    x.address = address_;
    x.admin = admin_;
  }
  x.node_id = to_string(sys.node());
  x.up_since_ms = up_since_ms_;
  x.sessions = m.sessions.load(std::memory_order_relaxed);
  x.relays = m.relays.load(std::memory_order_relaxed);
  x.broadcasters = m.broadcasters.load(std::memory_order_relaxed);
  x.state = "self";
  return x;
}

namespace {

void log_line(const std::string& line, log::level lvl = log::level::info) {
  log::write(lvl, "cluster", line);
}

std::chrono::milliseconds request_timeout(const node_config& cfg) {
  return std::chrono::milliseconds{cfg.connection_timeout_ms};
}

/// Capped exponential backoff with jitter: 100 ms, 200 ms, ... up to the
/// cap, each drawn from [d/2, d] so that edges do not retry in lockstep.
std::chrono::milliseconds backoff(uint32_t attempt, uint32_t cap_ms,
                                  std::minstd_rand& rng) {
  uint64_t d = 100;
  for (uint32_t i = 0; i < attempt && d < cap_ms; ++i)
    d *= 2;
  d = std::max<uint64_t>(1, std::min<uint64_t>(d, cap_ms));
  std::uniform_int_distribution<uint64_t> pick{d / 2, d};
  return std::chrono::milliseconds{pick(rng)};
}

std::minstd_rand seeded_rng() {
  std::random_device rd;
  return std::minstd_rand{rd()};
}

caf::error hub_unavailable(const std::string& address, const std::string& why) {
  return caf::make_error(caf::sec::request_receiver_down,
                         "hub " + address + " unavailable: " + why);
}

// --- hub link: one per configured hub ---------------------------------------

struct link_state;
using link_actor = guarded_actor<link_state>;

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
  caf::actor peer;
  /// The middleman actor we connect through (node::cluster_middleman).
  caf::io::middleman_actor via;
  /// Counts the link in cluster_links_up while `dir` is set.
  metrics* stats = nullptr;
  /// The hub's directory while connected (and monitored).
  caf::actor dir;
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
        auto dir = caf::actor_cast<caf::actor>(ptr);
        auto ours = protocol_of(*cfg);
        // Only builtin types until both sides know they speak the same
        // protocol: those read the same in every version.
        self->request(dir, timeout, hello_atom::value, ours, self->state.peer)
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

caf::behavior hub_link(link_actor* self, std::string address, std::string host,
                       uint16_t port, caf::actor peer, caf::actor via,
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
  st.via = caf::actor_cast<caf::io::middleman_actor>(via);
  st.stats = m;
  self->set_down_handler([=](const caf::down_msg& dm) {
    auto& st = self->state;
    if (!st.dir || dm.source != st.dir.address())
      return;
    log_line("lost hub " + st.address + ": " + self->system().render(dm.reason)
               + " (reconnecting)",
             log::level::warn);
    st.dir = nullptr;
    st.stats->count_hub_link(-1);
    st.status = "connecting";
    st.logged.clear();
    report(self);
    self->delayed_send(self,
                       backoff(st.attempt++, cfg->hub_retry_max_ms, st.rng),
                       retry_atom::value);
  });
  self->set_exit_handler([=](const caf::exit_msg& msg) {
    // Rule 7: the hub's directory outlives us; leave no monitor behind.
    if (self->state.dir) {
      self->demonitor(self->state.dir);
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
        const caf::actor& dead_hint) -> caf::result<caf::actor> {
      auto rp = self->make_response_promise<caf::actor>();
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

// --- relay: one per ticker in use on an edge ---------------------------------

struct relay_state;
using relay_actor = guarded_actor<relay_state>;

struct relay_state {
  static inline constexpr const char* name = "relay";

  /// Updates from the broadcaster we subscribed at only; nothing else from
  /// another node.
  static verdict screen(relay_actor* self, const inbound& in);
  /// The node of the last upstream: its late updates are dropped quietly.
  caf::node_id hub_node;

  std::string ticker;
  caf::actor link;
  /// The hub's broadcaster while subscribed (and monitored).
  caf::actor upstream;
  /// The last upstream that went down: the directory's dead_hint.
  caf::actor dead;
  bool subscribing = false;
  /// Counts moves to another hub (failover): an attempt to subscribe that
  /// started before the last move is stale.
  uint64_t route_generation = 0;
  uint32_t attempt = 0;
  /// Of the last update: the hub's broadcaster stamps them, we pass them on.
  uint64_t seq = 0;
  uint64_t epoch = 0;
  /// The upstream went down: ticks may be lost until we are subscribed
  /// again, so the next update we publish has gap.
  bool gap_pending = false;
  /// The last update as the message every subscriber got (empty if none).
  caf::message last;
  std::unordered_map<caf::actor_addr, caf::actor> subscribers;
  /// Subscribe requests that wait for the first upstream subscription, so
  /// that a snapshot carries the hub's last price; those that resume carry
  /// their position.
  struct waiting_subscriber {
    caf::response_promise rp;
    bool resumes = false;
    stream_position pos;
  };
  std::vector<waiting_subscriber> waiting;
  /// The edge's own copy of the recent updates, for sessions that resume
  /// here (docs/cluster.md): filled from the hub's history whenever the
  /// relay (re)subscribes, so it is as complete as the hub's.
  std::unique_ptr<update_history> history;
  bool prune_armed = false;
  uint64_t linger_generation = 0;
  std::minstd_rand rng = seeded_rng();
  /// Counts us in `relays` while the state lives: in the destructor, not an
  /// attachable, because CAF 0.17 runs attachables after unregistering the
  /// actor, when node::~node may already have freed `metrics`.
  metrics* stats = nullptr;

  ~relay_state() {
    if (stats != nullptr)
      metrics::add(stats->relays, -1);
  }

  /// Ticks per second of the last 10 seconds, as the broadcaster keeps it.
  static constexpr size_t rate_window = 10;
  std::array<uint32_t, rate_window> per_second{};
  std::array<int64_t, rate_window> second_of{};
  caf::actor_clock::time_point last_tick_at;
};

verdict relay_state::screen(relay_actor* self, const inbound& in) {
  if (!in.remote)
    return verdict::accept;
  auto& st = self->state;
  if (in.is<price_update>()) {
    if (st.upstream
        && in.sender == caf::actor_cast<caf::strong_actor_ptr>(st.upstream))
      return verdict::accept;
    // A broadcaster we left (or lost) may still have sent a few.
    if (in.node() == st.hub_node)
      return verdict::drop;
  }
  return verdict::refuse;
}

std::vector<price_update> last_of(const relay_state& st) {
  if (st.last.empty())
    return {};
  return {st.last.get_as<price_update>(0)};
}

int64_t second_of(caf::actor_clock::time_point t) {
  using std::chrono::duration_cast;
  return duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

void count_tick(relay_state& st, caf::actor_clock::time_point now) {
  st.last_tick_at = now;
  auto sec = second_of(now);
  auto i = static_cast<size_t>(sec) % relay_state::rate_window;
  if (st.second_of[i] != sec) {
    st.second_of[i] = sec;
    st.per_second[i] = 0;
  }
  ++st.per_second[i];
}

ticker_info describe_relay(relay_actor* self) {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  auto& st = self->state;
  auto now = self->clock().now();
  ticker_info x;
  x.ticker = st.ticker;
  x.subscribers = st.subscribers.size();
  x.seq = st.seq;
  x.epoch = st.epoch;
  x.upstream_connected = static_cast<bool>(st.upstream);
  x.history = st.history->size();
  x.last = last_of(st);
  if (!st.last.empty())
    x.last_update_ms =
      duration_cast<milliseconds>(now - st.last_tick_at).count();
  auto sec = second_of(now);
  constexpr auto window = static_cast<int64_t>(relay_state::rate_window);
  for (auto s = sec - window + 1; s <= sec; ++s) {
    auto i = static_cast<size_t>(s) % relay_state::rate_window;
    x.per_second.push_back(st.second_of[i] == s ? st.per_second[i] : 0);
  }
  return x;
}

resume_reply resume_of(relay_actor* self, const stream_position& pos) {
  auto& st = self->state;
  st.history->prune(self->clock().now());
  return st.history->resume(pos, st.last);
}

void deliver_waiting(relay_actor* self) {
  auto waiting = std::move(self->state.waiting);
  self->state.waiting.clear();
  for (auto& x : waiting) {
    if (x.resumes)
      x.rp.deliver(resume_of(self, x.pos));
    else
      x.rp.deliver(last_of(self->state));
  }
}

ticker_health health_of(relay_actor* self) {
  auto& st = self->state;
  return make_ticker_health(st.ticker, last_of(st), st.last_tick_at,
                            self->clock().now(),
                            static_cast<bool>(st.upstream));
}

/// Fans `msg` (one price_update) out to every subscriber and keeps it.
void publish(relay_actor* self, caf::message msg) {
  auto& st = self->state;
  if (st.gap_pending) {
    st.gap_pending = false;
    if (!msg.get_as<price_update>(0).gap) {
      auto u = msg.get_as<price_update>(0);
      u.gap = true;
      msg = caf::make_message(std::move(u));
    }
  }
  st.seq = msg.get_as<price_update>(0).seq;
  st.epoch = msg.get_as<price_update>(0).epoch;
  auto now = self->clock().now();
  count_tick(st, now);
  st.last = std::move(msg);
  st.history->add(st.last, now);
  arm_history_prune(self);
  for (auto& kvp : st.subscribers)
    self->send(kvp.second, st.last);
}

void subscribe_upstream(relay_actor* self, const node_config* cfg);

void upstream_failed(relay_actor* self, const node_config* cfg) {
  auto& st = self->state;
  st.subscribing = false;
  // Sessions start anyway (without the hub's last price) and get ticks
  // once the hub is back.
  deliver_waiting(self);
  self->delayed_send(self, backoff(st.attempt++, cfg->hub_retry_max_ms, st.rng),
                     retry_atom::value);
}

void subscribe_upstream(relay_actor* self, const node_config* cfg) {
  auto& st = self->state;
  if (st.upstream || st.subscribing)
    return;
  st.subscribing = true;
  auto timeout = request_timeout(*cfg);
  // A move (failover) while this attempt is on its way makes it stale.
  auto route = st.route_generation;
  auto stale = [=] { return self->state.route_generation != route; };
  auto via = st.link;
  self->request(st.link, timeout, get_atom::value, st.ticker, st.dead)
    .then(
      [=](const caf::actor& b) {
        if (stale())
          return;
        // Resumes where we stood: the hub replays what we missed from its
        // history, so that a short loss of the hub leaves no gap.
        auto& st = self->state;
        stream_position pos{st.ticker, st.epoch, st.seq};
        self
          ->request(b, timeout, subscribe_atom::value,
                    caf::actor_cast<caf::actor>(self), pos)
          .then(
            [=](const resume_reply& r) {
              if (stale()) {
                // Subscribed at a hub we moved away from: leave again, or
                // it would keep the channel for nobody. (Moved away and
                // back: the attempt on its way now gets this very
                // broadcaster, unless it died; leaving would undo that.)
                if (self->state.link != via)
                  self->send(b, unsubscribe_atom::value,
                             caf::actor_cast<caf::actor>(self));
                return;
              }
              auto& st = self->state;
              st.subscribing = false;
              st.upstream = b;
              st.hub_node = b.node();
              st.dead = nullptr;
              st.attempt = 0;
              self->monitor(b);
              if (r.recovered) {
                st.gap_pending = false;
                for (auto& x : r.updates)
                  publish(self, caf::make_message(x));
              } else if (!r.updates.empty()) {
                // Ticks the hub took while we were away are lost to us: the
                // newest one now, marked with gap.
                auto& x = r.updates.front();
                if (st.last.empty() || x.seq != st.seq || x.epoch != st.epoch)
                  publish(self, caf::make_message(x));
                else
                  st.gap_pending = false;
              }
              deliver_waiting(self);
            },
            [=](const caf::error&) {
              if (stale())
                return;
              self->state.dead = b;
              upstream_failed(self, cfg);
            });
      },
      [=](const caf::error&) {
        if (!stale())
          upstream_failed(self, cfg);
      });
}

void leave(relay_actor* self);

/// Failover (docs/cluster.md): from now on subscribe through `link`. The
/// old hub's broadcaster, if still there, is left (it lingers out and
/// releases the Redis channel); the next update has gap and the new hub's
/// epoch.
void move_to(relay_actor* self, caf::actor link, const node_config* cfg) {
  auto& st = self->state;
  if (link == st.link)
    return;
  st.link = std::move(link);
  ++st.route_generation;
  st.subscribing = false;
  st.dead = nullptr;
  st.attempt = 0;
  if (st.upstream) {
    leave(self);
    st.gap_pending = true;
  }
  subscribe_upstream(self, cfg);
}

void arm_linger(relay_actor* self, const node_config& cfg) {
  auto gen = ++self->state.linger_generation;
  self->delayed_send(self, std::chrono::milliseconds(cfg.linger_ms),
                     linger_atom::value, gen);
}

/// Leaves the hub's broadcaster: it would notice our exit anyway (it
/// monitors us), but docs/architecture.md rule 7 says a monitor on a long-lived
/// actor must go.
void leave(relay_actor* self) {
  auto& st = self->state;
  if (!st.upstream)
    return;
  self->send(st.upstream, unsubscribe_atom::value,
             caf::actor_cast<caf::actor>(self));
  self->demonitor(st.upstream);
  st.upstream = nullptr;
}

caf::behavior relay(relay_actor* self, std::string ticker, caf::actor link,
                    const node_config* cfg, metrics* m) {
  // Towards sessions a broadcaster (same messages, same monitors, same
  // linger); towards the hub one subscriber, so a tick crosses the network
  // once per edge. A lost hub broadcaster is a down_msg: subscribe again
  // with capped backoff while the sessions stay as they are.
  auto& st = self->state;
  st.ticker = std::move(ticker);
  st.link = std::move(link);
  st.stats = m;
  metrics::add(m->relays, 1);
  st.history = std::make_unique<update_history>(
    cfg->history_size, std::chrono::milliseconds{cfg->history_ttl_ms}, m);
  self->set_down_handler([=](const caf::down_msg& dm) {
    auto& st = self->state;
    if (st.upstream && dm.source == st.upstream.address()) {
      st.dead = st.upstream;
      st.upstream = nullptr;
      st.gap_pending = true;
      self->delayed_send(self,
                         backoff(st.attempt++, cfg->hub_retry_max_ms, st.rng),
                         retry_atom::value);
      return;
    }
    if (st.subscribers.erase(dm.source) > 0 && st.subscribers.empty())
      arm_linger(self, *cfg);
  });
  self->set_exit_handler([=](const caf::exit_msg& msg) {
    leave(self);
    self->quit(msg.reason);
  });
  // Spawned on first demand: the first subscriber is on its way.
  arm_linger(self, *cfg);
  subscribe_upstream(self, cfg);
  return {
    // --- from the hub's broadcaster ---
    [=](const price_update&) {
      // Only from the broadcaster we are subscribed at: after a move, the
      // one we left may still have sent some.
      auto& st = self->state;
      auto sender = caf::actor_cast<caf::actor_addr>(self->current_sender());
      if (!st.upstream || sender != st.upstream.address())
        return;
      // The shared message as it came in, for all our subscribers.
      publish(self, self->current_mailbox_element()->copy_content_to_message());
    },
    // --- from the relay directory (failover) ---
    [=](move_atom, const caf::actor& link) { move_to(self, link, cfg); },
    // --- from sessions, as at a broadcaster ---
    [=](subscribe_atom,
        const caf::actor& who) -> caf::result<std::vector<price_update>> {
      auto& st = self->state;
      if (who && st.subscribers.emplace(who.address(), who).second) {
        self->monitor(who);
        ++st.linger_generation; // disarms a pending linger timer
      }
      if (st.subscribing && !st.upstream) {
        auto rp = self->make_response_promise<std::vector<price_update>>();
        st.waiting.push_back({rp, false, {}});
        return rp;
      }
      return last_of(st);
    },
    [=](subscribe_atom, const caf::actor& who,
        const stream_position& pos) -> caf::result<resume_reply> {
      auto& st = self->state;
      if (who && st.subscribers.emplace(who.address(), who).second) {
        self->monitor(who);
        ++st.linger_generation; // disarms a pending linger timer
      }
      if (st.subscribing && !st.upstream) {
        auto rp = self->make_response_promise<resume_reply>();
        st.waiting.push_back({rp, true, pos});
        return rp;
      }
      return resume_of(self, pos);
    },
    [=](unsubscribe_atom, const caf::actor& who) {
      auto& st = self->state;
      if (st.subscribers.erase(who.address()) == 0)
        return;
      self->demonitor(who);
      if (st.subscribers.empty())
        arm_linger(self, *cfg);
    },
    [=](last_atom) { return last_of(self->state); },
    [=](health_atom) { return health_of(self); },
    [=](stats_atom) {
      auto& st = self->state;
      return caf::make_message(static_cast<uint64_t>(st.subscribers.size()),
                               st.seq);
    },
    [=](describe_atom) { return describe_relay(self); },
    // --- own timers ---
    [=](prune_atom) {
      auto& st = self->state;
      st.prune_armed = false;
      st.history->prune(self->clock().now());
      arm_history_prune(self);
    },
    [=](retry_atom) { subscribe_upstream(self, cfg); },
    [=](linger_atom, uint64_t gen) {
      auto& st = self->state;
      if (gen == st.linger_generation && st.subscribers.empty()) {
        leave(self);
        self->quit();
      }
    },
  };
}

// --- relay directory: an edge's `directory` ---------------------------------

struct relay_directory_state;
using relay_directory_actor = guarded_actor<relay_directory_state>;

struct relay_directory_state {
  static inline constexpr const char* name = "relay_directory";

  /// Another node (a hub) may ask who we are, nothing else: relays are
  /// spawned for our own sessions only.
  static verdict screen(relay_directory_actor*, const inbound& in) {
    if (!in.remote || in.is<node_atom>())
      return verdict::accept;
    return verdict::refuse;
  }

  /// One link per configured hub, in the order of cfg.hubs.
  std::vector<caf::actor> links;
  std::unordered_map<std::string, caf::actor> relays;
  std::unordered_map<caf::actor_addr, std::string> tickers;
  /// Per link: whether its hub is up as the link last said (failover).
  std::vector<bool> alive;
  /// Per relay's ticker: the index of the link it subscribes through.
  std::unordered_map<std::string, size_t> routes;
};

std::pair<std::string, uint16_t> split_host_port(const std::string& x) {
  auto pos = x.rfind(':');
  auto host = x.substr(0, pos);
  if (host.size() > 2 && host.front() == '[')
    host = host.substr(1, host.size() - 2);
  auto port = static_cast<uint16_t>(std::stoul(x.substr(pos + 1)));
  return {host, port};
}

/// Failover (docs/cluster.md): `hub` is lost (`up` false) or back; every
/// relay whose route changes with it moves to its new hub. Routes depend on
/// the set of hubs that are up only, so edges that see the same hubs up
/// route alike, and a returning hub gets its tickers back.
void move_relays(relay_directory_actor* self, const node_config* cfg,
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

caf::behavior relay_directory(relay_directory_actor* self,
                              const node_config* cfg, metrics* m,
                              const node_identity* id, caf::actor via,
                              std::vector<caf::actor> test_links) {
  // Watches its relays (monitor) like the hub's directory watches its
  // broadcasters; links to hubs live as long as the directory.
  auto& st = self->state;
  st.links = std::move(test_links); // tests bring their own
  st.alive.assign(cfg->hubs.size(), true);
  for (auto& hub : st.links.empty() ? cfg->hubs : std::vector<std::string>{}) {
    auto [host, port] = split_host_port(hub);
    st.links.push_back(self->spawn(hub_link, hub, host, port,
                                   caf::actor_cast<caf::actor>(self), via, cfg,
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
        const caf::actor& dead_hint) -> caf::result<caf::actor> {
      auto& st = self->state;
      auto i = st.relays.find(ticker);
      if (i != st.relays.end() && i->second != dead_hint)
        return i->second;
      // --max-tickers counts relays here, as broadcasters on a hub.
      if (i == st.relays.end() && cfg->max_tickers > 0
          && st.relays.size() >= cfg->max_tickers) {
        metrics::add(m->ticker_limit_total);
        return ticker_limit_error(cfg->max_tickers, ticker);
      }
      auto hub = hub_of(ticker);
      auto r = self->system().spawn(relay, ticker, st.links[hub], cfg, m);
      self->monitor(r);
      st.relays[ticker] = r;
      st.tickers[r.address()] = ticker;
      st.routes[ticker] = hub;
      return r;
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
      std::vector<caf::actor> local;
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

caf::actor spawn_relay_directory(caf::actor_system& sys, const node_config& cfg,
                                 metrics& m, const node_identity& id,
                                 caf::actor via) {
  return sys.spawn(relay_directory, &cfg, &m, &id, std::move(via),
                   std::vector<caf::actor>{});
}

caf::actor spawn_relay_directory(caf::actor_system& sys, const node_config& cfg,
                                 metrics& m, const node_identity& id,
                                 std::vector<caf::actor> links) {
  return sys.spawn(relay_directory, &cfg, &m, &id, caf::actor{},
                   std::move(links));
}

} // namespace mm
