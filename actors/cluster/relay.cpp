#include "actors/cluster/relay.hpp"

#include <chrono>
#include <memory>
#include <random>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/cluster/support.hpp"
#include "actors/inspection.hpp"
#include "actors/interfaces.hpp"
#include "actors/messages.hpp"
#include "actors/metrics.hpp"
#include "actors/node_config.hpp"
#include "actors/peer_guard.hpp"
#include "actors/price_update.hpp"
#include "actors/send_shared.hpp"
#include "actors/tick_rate.hpp"
#include "actors/update_history.hpp"

namespace mm {

namespace {

using namespace cluster_detail;

/// The relay's interface with its own timers.
using relay_impl = ticker_relay_actor::extend<
  // The history's prune timer.
  caf::reacts_to<prune_atom>,
  // Subscribe at the hub again (backoff).
  caf::reacts_to<retry_atom>,
  // The linger timer of a generation (stale ones are ignored).
  caf::reacts_to<linger_atom, uint64_t>>;

struct relay_state;
using relay_actor = guarded_actor<relay_state, relay_impl::base>;

struct relay_state {
  static inline constexpr const char* name = "relay";

  /// Updates from the broadcaster we subscribed at only; nothing else from
  /// another node.
  static verdict screen(relay_actor* self, const inbound& in);
  /// The node of the last upstream: its late updates are dropped quietly.
  caf::node_id hub_node;

  std::string ticker;
  hub_link_actor link;
  /// The hub's broadcaster while subscribed (and monitored).
  ticker_publisher_actor upstream;
  /// The last upstream that went down: the directory's dead_hint.
  publisher dead;
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
  std::unordered_map<caf::actor_addr, subscriber> subscribers;
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

  /// For the inspector and health, as the broadcaster keeps it.
  tick_rate rate;
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
      x.rp.deliver(last_of(self->state.last));
  }
}

ticker_health health_of(relay_actor* self) {
  auto& st = self->state;
  return st.rate.health(st.ticker, st.last, self->clock().now(),
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
  st.rate.count(now);
  st.last = std::move(msg);
  st.history->add(st.last, now);
  arm_history_prune(self);
  for (auto& kvp : st.subscribers)
    send_shared<price_update>(self, kvp.second, st.last);
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
      [=](const publisher& b) {
        if (stale())
          return;
        // Resumes where we stood: the hub replays what we missed from its
        // history, so that a short loss of the hub leaves no gap.
        auto& st = self->state;
        stream_position pos{st.ticker, st.epoch, st.seq};
        self->request(b, timeout, subscribe_atom::value, subscriber{self}, pos)
          .then(
            [=](const resume_reply& r) {
              if (stale()) {
                // Subscribed at a hub we moved away from: leave again, or
                // it would keep the channel for nobody. (Moved away and
                // back: the attempt on its way now gets this very
                // broadcaster, unless it died; leaving would undo that.)
                if (self->state.link != via)
                  self->send(b, unsubscribe_atom::value, subscriber{self});
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
void move_to(relay_actor* self, hub_link_actor link, const node_config* cfg) {
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
  self->send(st.upstream, unsubscribe_atom::value, subscriber{self});
  self->demonitor(st.upstream.address());
  st.upstream = ticker_publisher_actor{};
}

relay_impl::behavior_type relay(relay_actor* self, std::string ticker,
                                hub_link_actor link, const node_config* cfg,
                                metrics* m) {
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
      st.upstream = ticker_publisher_actor{};
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
  auto add = [=](const subscriber& who) {
    auto& st = self->state;
    if (who && st.subscribers.emplace(who.address(), who).second) {
      self->monitor(who);
      ++st.linger_generation; // disarms a pending linger timer
    }
  };
  auto subscribe =
    [=](const subscriber& who) -> caf::result<std::vector<price_update>> {
    add(who);
    auto& st = self->state;
    if (st.subscribing && !st.upstream) {
      auto rp = self->make_response_promise<std::vector<price_update>>();
      st.waiting.push_back({rp, false, {}});
      return rp;
    }
    return last_of(st.last);
  };
  auto resume = [=](const subscriber& who,
                    const stream_position& pos) -> caf::result<resume_reply> {
    add(who);
    auto& st = self->state;
    if (st.subscribing && !st.upstream) {
      auto rp = self->make_response_promise<resume_reply>();
      st.waiting.push_back({rp, true, pos});
      return rp;
    }
    return resume_of(self, pos);
  };
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
    [=](move_atom, const hub_link_actor& link) { move_to(self, link, cfg); },
    // --- from sessions, as at a broadcaster ---
    [=](subscribe_atom, const subscriber& who)
      -> caf::result<std::vector<price_update>> { return subscribe(who); },
    [=](subscribe_atom, const subscriber& who, const stream_position& pos)
      -> caf::result<resume_reply> { return resume(who, pos); },
    [=](unsubscribe_atom, const subscriber& who) {
      auto& st = self->state;
      if (st.subscribers.erase(who.address()) == 0)
        return;
      self->demonitor(who.address());
      if (st.subscribers.empty())
        arm_linger(self, *cfg);
    },
    [=](last_atom) { return last_of(self->state.last); },
    [=](health_atom) { return health_of(self); },
    // A local CONFLATE session: no inbox here, each update is a message
    // (the session puts it into its inbox itself).
    [=](subscribe_atom, const inbox_sink_actor& who, const session_inbox_ptr&,
        uint32_t) -> caf::result<std::vector<price_update>> {
      return subscribe(who);
    },
    [=](subscribe_atom, const inbox_sink_actor& who, const session_inbox_ptr&,
        uint32_t, const stream_position& pos) -> caf::result<resume_reply> {
      return resume(who, pos);
    },
    [=](stats_atom) -> caf::result<uint64_t, uint64_t> {
      auto& st = self->state;
      return {static_cast<uint64_t>(st.subscribers.size()), st.seq};
    },
    [=](describe_atom) {
      return describe_publisher(self, static_cast<bool>(self->state.upstream),
                                self->state.subscribers.size());
    },
    // --- own timers ---
    [=](prune_atom) { prune_history(self); },
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

} // namespace

ticker_relay_actor spawn_relay(caf::actor_system& sys, std::string ticker,
                               hub_link_actor link, const node_config* cfg,
                               metrics* m) {
  return sys.spawn(relay, std::move(ticker), std::move(link), cfg, m);
}

} // namespace mm
