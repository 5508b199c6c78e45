#include "actors/ticker_broadcaster.hpp"

#include <algorithm>
#include <functional>
#include <memory>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/interfaces.hpp"
#include "actors/messages.hpp"
#include "actors/metrics.hpp"
#include "actors/node_config.hpp"
#include "actors/peer_guard.hpp"
#include "actors/send_shared.hpp"
#include "actors/tick_rate.hpp"
#include "actors/update_history.hpp"

namespace mm {

namespace {

/// The broadcaster's interface with its own timers.
using broadcaster_impl = ticker_broadcaster_actor::extend<
  // The history's prune timer.
  caf::reacts_to<prune_atom>,
  // The linger timer of a generation (stale ones are ignored).
  caf::reacts_to<linger_atom, uint64_t>>;

struct broadcaster_state;
using broadcaster_actor =
  guarded_actor<broadcaster_state, broadcaster_impl::base>;

struct broadcaster_state {
  static inline constexpr const char* name = "ticker_broadcaster";

  /// The redis listener: the one sender of ticks (null: any local actor).
  caf::actor_addr listener;

  std::string ticker;
  uint64_t seq = 0;
  /// A new one per broadcaster: `seq` restarts with every broadcaster.
  uint64_t epoch = make_epoch();
  /// Whether the redis listener's connection is up (upstream_atom).
  bool upstream_connected = false;
  /// The connection dropped since the last tick: the next update has gap.
  bool gap_pending = false;
  /// The last update as the message every subscriber got (empty if none).
  caf::message last;
  /// Recent updates for sessions that resume (--history-size/-ttl-ms).
  std::unique_ptr<update_history> history;
  /// A prune timer is on its way.
  bool prune_armed = false;
  /// How each subscriber gets a tick. Every tick walks it; it is sorted by
  /// the subscriber's control block, so a subscriber (or a down_msg's
  /// address) is found by binary search, without a map beside it.
  struct target {
    subscriber hdl;
    /// Local CONFLATE sessions: the session to wake, and the slot of this
    /// ticker in its inbox.
    inbox_sink_actor woken;
    session_inbox_ptr inbox;
    uint32_t slot = 0;
  };
  std::vector<target> fanout;
  /// (wake_atom), made once and shared by every wake-up.
  caf::message wake = caf::make_message(wake_atom::value);
  /// Subscribers on other nodes (metrics::relays).
  std::shared_ptr<int64_t> remote = std::make_shared<int64_t>(0);
  /// Counts us in `broadcasters` while the state lives.
  metrics* stats = nullptr;
  /// Bumped whenever the linger timer is (re)armed; stale timers are ignored.
  uint64_t linger_generation = 0;

  /// For the inspector and health: when the ticks came.
  tick_rate rate;

  static verdict screen(broadcaster_actor* self, const inbound& in);

  /// Takes us off the counts. Here and not in an attach_functor: CAF 0.17
  /// runs attachables after unregistering the actor, so await_all_actors_done
  /// (node::~node) can return first and free `metrics` under them; the state
  /// is destroyed before the actor unregisters.
  ~broadcaster_state() {
    if (stats == nullptr)
      return;
    metrics::add(stats->broadcasters, -1);
    metrics::add(stats->relays, -*remote);
  }
};

/// Another node may subscribe and unsubscribe its own actors (an edge's
/// relays) and ask last and health; ticks and upstream state come from the
/// listener only.
verdict broadcaster_state::screen(broadcaster_actor* self, const inbound& in) {
  auto& st = self->state;
  if (in.is<tick>() || in.is<upstream_atom, bool>()) {
    if (in.remote)
      return verdict::refuse;
    if (st.listener && in.sender->address() != st.listener)
      return verdict::refuse;
    return verdict::accept;
  }
  if (!in.remote)
    return verdict::accept;
  auto own = [&](size_t pos) {
    auto& who = *static_cast<const subscriber*>(in.content.get(pos));
    return !who || who.node() == in.node();
  };
  if (in.is<subscribe_atom, subscriber>()
      || in.is<subscribe_atom, subscriber, stream_position>()
      || in.is<unsubscribe_atom, subscriber>())
    return own(1) ? verdict::accept : verdict::refuse;
  if (in.is<last_atom>() || in.is<health_atom>())
    return verdict::accept;
  return verdict::refuse;
}

ticker_info describe(broadcaster_actor* self) {
  auto& st = self->state;
  auto x = describe_publisher(self, st.upstream_connected, st.fanout.size());
  for (auto& t : st.fanout) {
    if (t.hdl.node() != self->node()) {
      ++x.remote_subscribers;
      ++x.remote_by_node[to_string(t.hdl.node())];
    }
  }
  return x;
}

/// Counts a remote subscriber that came (+1) or went (-1).
void count_remote(broadcaster_actor* self, metrics* m, const subscriber& who,
                  int64_t n) {
  if (who.node() == self->node())
    return;
  *self->state.remote += n;
  metrics::add(m->relays, n);
}

/// The key `fanout` is sorted by.
const caf::actor_control_block* key_of(const subscriber& x) {
  return caf::actor_cast<caf::actor_control_block*>(x);
}

/// Where `who` is in `fanout`, or where it would go.
std::vector<broadcaster_state::target>::iterator
position_of(broadcaster_state& st, const caf::actor_control_block* who) {
  return std::lower_bound(st.fanout.begin(), st.fanout.end(), who,
                          [](const broadcaster_state::target& x,
                             const caf::actor_control_block* y) {
                            return std::less<>{}(key_of(x.hdl), y);
                          });
}

/// The fanout entry of `who`, or end().
std::vector<broadcaster_state::target>::iterator
find_target(broadcaster_state& st, const caf::actor_control_block* who) {
  auto i = position_of(st, who);
  if (i != st.fanout.end() && key_of(i->hdl) != who)
    return st.fanout.end();
  return i;
}

/// Adds `who` (or updates how it gets ticks: through `inbox`, waking
/// `woken`, if not null); false if it was known.
bool add_target(broadcaster_state& st, const subscriber& who,
                const inbox_sink_actor& woken, session_inbox_ptr inbox,
                uint32_t slot) {
  auto i = position_of(st, key_of(who));
  if (i != st.fanout.end() && i->hdl == who) {
    // One fanout entry per subscriber: update it and stop.
    *i = {who, woken, std::move(inbox), slot};
    return false;
  }
  st.fanout.insert(i, {who, woken, std::move(inbox), slot});
  return true;
}

ticker_health health_of(broadcaster_actor* self) {
  auto& st = self->state;
  return st.rate.health(st.ticker, st.last, self->clock().now(),
                        st.upstream_connected);
}

void arm_linger(broadcaster_actor* self, const node_config& cfg) {
  auto gen = ++self->state.linger_generation;
  self->delayed_send(self, std::chrono::milliseconds(cfg.linger_ms),
                     linger_atom::value, gen);
}

broadcaster_impl::behavior_type ticker_broadcaster(broadcaster_actor* self,
                                                   std::string ticker,
                                                   const node_config* cfg,
                                                   metrics* m,
                                                   caf::actor_addr listener) {
  // Watches its subscribers (monitor, docs/architecture.md rule 3); ends on
  // its own once nobody has subscribed for a linger period, so nobody has to
  // stop it.
  self->state.ticker = std::move(ticker);
  self->state.listener = std::move(listener);
  metrics::add(m->broadcasters, 1);
  self->state.stats = m;
  self->state.history = std::make_unique<update_history>(
    cfg->history_size, std::chrono::milliseconds{cfg->history_ttl_ms}, m);
  self->set_down_handler([=](const caf::down_msg& dm) {
    auto& st = self->state;
    auto i = find_target(st,
                         caf::actor_cast<caf::actor_control_block*>(dm.source));
    if (i == st.fanout.end())
      return;
    count_remote(self, m, i->hdl, -1);
    st.fanout.erase(i);
    if (st.fanout.empty())
      arm_linger(self, *cfg);
  });
  auto subscribe = [=](const subscriber& who, const inbox_sink_actor& woken,
                       session_inbox_ptr inbox, uint32_t slot) {
    auto& st = self->state;
    if (who && add_target(st, who, woken, std::move(inbox), slot)) {
      self->monitor(who);
      count_remote(self, m, who, 1);
      ++st.linger_generation; // disarms a pending linger timer
    }
    return last_of(st.last);
  };
  // The subscription and the replay in one step: ticks after this handler
  // reach the subscriber live, those before it are in the reply.
  auto resume = [=](const subscriber& who, const inbox_sink_actor& woken,
                    session_inbox_ptr inbox, uint32_t slot,
                    const stream_position& pos) {
    auto& st = self->state;
    subscribe(who, woken, std::move(inbox), slot);
    st.history->prune(self->clock().now());
    return st.history->resume(pos, st.last);
  };
  // Spawned on first demand: the first subscriber is on its way.
  arm_linger(self, *cfg);
  return {
    // --- from the redis listener ---
    [=](const tick& t) {
      auto& st = self->state;
      price_update u;
      u.ticker = st.ticker;
      u.price = t.price;
      u.volume = t.volume;
      u.ts = t.ts;
      u.seq = ++st.seq;
      u.epoch = st.epoch;
      u.gap = st.gap_pending;
      st.gap_pending = false;
      auto now = self->clock().now();
      st.rate.count(now);
      // One shared, immutable payload for all subscribers.
      st.last = caf::make_message(std::move(u));
      st.history->add(st.last, now);
      arm_history_prune(self);
      for (auto& x : st.fanout) {
        // A CONFLATE session that has not taken its last update yet gets
        // this one in its place, not one more message (session_inbox.hpp).
        if (!x.inbox)
          send_shared<price_update>(self, x.hdl, st.last);
        else if (x.inbox->put(x.slot, st.last, now))
          send_shared<wake_atom>(self, x.woken, st.wake);
      }
    },
    [=](upstream_atom, bool connected) {
      auto& st = self->state;
      // Ticks published while the connection was down are lost for good.
      if (st.upstream_connected && !connected)
        st.gap_pending = true;
      st.upstream_connected = connected;
    },
    // --- from sessions (and, in a cluster, relays) ---
    [=](subscribe_atom, const subscriber& who) -> std::vector<price_update> {
      return subscribe(who, {}, nullptr, 0);
    },
    [=](subscribe_atom, const inbox_sink_actor& who,
        const session_inbox_ptr& inbox,
        uint32_t slot) -> std::vector<price_update> {
      return subscribe(who, who, inbox, slot);
    },
    [=](subscribe_atom, const subscriber& who, const stream_position& pos)
      -> resume_reply { return resume(who, {}, nullptr, 0, pos); },
    [=](subscribe_atom, const inbox_sink_actor& who,
        const session_inbox_ptr& inbox, uint32_t slot,
        const stream_position& pos) -> resume_reply {
      return resume(who, who, inbox, slot, pos);
    },
    [=](unsubscribe_atom, const subscriber& who) {
      auto& st = self->state;
      auto i = find_target(st, key_of(who));
      if (i == st.fanout.end())
        return;
      count_remote(self, m, i->hdl, -1);
      st.fanout.erase(i);
      self->demonitor(who.address());
      if (st.fanout.empty())
        arm_linger(self, *cfg);
    },
    [=](last_atom) { return last_of(self->state.last); },
    [=](health_atom) { return health_of(self); },
    // --- from the inspector and tests ---
    [=](stats_atom) -> caf::result<uint64_t, uint64_t> {
      auto& st = self->state;
      return {static_cast<uint64_t>(st.fanout.size()), st.seq};
    },
    [=](describe_atom) { return describe(self); },
    // --- own timers ---
    [=](prune_atom) { prune_history(self); },
    [=](linger_atom, uint64_t gen) {
      auto& st = self->state;
      if (gen == st.linger_generation && st.fanout.empty())
        self->quit();
    },
  };
}

} // namespace

ticker_broadcaster_actor
spawn_ticker_broadcaster(caf::actor_system& sys, std::string ticker,
                         const node_config& cfg, metrics& m,
                         const caf::actor_addr& listener) {
  return sys.spawn(ticker_broadcaster, std::move(ticker), &cfg, &m, listener);
}

ticker_broadcaster_actor spawn_ticker_broadcaster(caf::actor_system& sys,
                                                  std::string ticker,
                                                  const node_config& cfg,
                                                  metrics& m) {
  return sys.spawn(ticker_broadcaster, std::move(ticker), &cfg, &m,
                   caf::actor_addr{});
}

} // namespace mm
