#include "actors/ticker_broadcaster.hpp"

#include <array>
#include <unordered_map>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/messages.hpp"
#include "actors/metrics.hpp"
#include "actors/node_config.hpp"

namespace mm {

namespace {

struct broadcaster_state {
  static inline constexpr const char* name = "ticker_broadcaster";

  std::string ticker;
  uint64_t seq = 0;
  /// The last update as the message every subscriber got (empty if none).
  caf::message last;
  /// Subscribers by address: down_msg names the address only.
  std::unordered_map<caf::actor_addr, caf::actor> subscribers;
  /// Bumped whenever the linger timer is (re)armed; stale timers are ignored.
  uint64_t linger_generation = 0;

  /// For the inspector: ticks per second of the last `rate_window` seconds,
  /// as a ring indexed by the second (of the actor clock) modulo its size.
  static constexpr size_t rate_window = 10;
  std::array<uint32_t, rate_window> per_second{};
  std::array<int64_t, rate_window> second_of{};
  caf::actor_clock::time_point last_tick_at;
};

using broadcaster_actor = caf::stateful_actor<broadcaster_state>;

std::vector<price_update> last_of(const broadcaster_state& st) {
  if (st.last.empty())
    return {};
  return {st.last.get_as<price_update>(0)};
}

int64_t second_of(caf::actor_clock::time_point t) {
  using std::chrono::duration_cast;
  return duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

void count_tick(broadcaster_state& st, caf::actor_clock::time_point now) {
  st.last_tick_at = now;
  auto sec = second_of(now);
  auto i = static_cast<size_t>(sec) % broadcaster_state::rate_window;
  if (st.second_of[i] != sec) {
    st.second_of[i] = sec;
    st.per_second[i] = 0;
  }
  ++st.per_second[i];
}

ticker_info describe(broadcaster_actor* self) {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  auto& st = self->state;
  auto now = self->clock().now();
  ticker_info x;
  x.ticker = st.ticker;
  x.subscribers = st.subscribers.size();
  for (auto& kvp : st.subscribers)
    if (kvp.second.node() != self->node())
      ++x.remote_subscribers;
  x.seq = st.seq;
  x.last = last_of(st);
  if (st.seq > 0)
    x.last_update_ms
      = duration_cast<milliseconds>(now - st.last_tick_at).count();
  // Oldest second first; seconds without a tick are slots of older seconds.
  auto sec = second_of(now);
  constexpr auto window = static_cast<int64_t>(broadcaster_state::rate_window);
  for (auto s = sec - window + 1; s <= sec; ++s) {
    auto i = static_cast<size_t>(s) % broadcaster_state::rate_window;
    x.per_second.push_back(st.second_of[i] == s ? st.per_second[i] : 0);
  }
  return x;
}

void arm_linger(broadcaster_actor* self, const node_config& cfg) {
  auto gen = ++self->state.linger_generation;
  self->delayed_send(self, std::chrono::milliseconds(cfg.linger_ms),
                     linger_atom::value, gen);
}

caf::behavior ticker_broadcaster(broadcaster_actor* self, std::string ticker,
                                 const node_config* cfg, metrics* m) {
  // Watches its subscribers (monitor, rule 3); ends on its own once nobody
  // has subscribed for a linger period, so nobody has to stop it.
  self->state.ticker = std::move(ticker);
  metrics::add(m->broadcasters, 1);
  self->attach_functor([m] { metrics::add(m->broadcasters, -1); });
  self->set_down_handler([=](const caf::down_msg& dm) {
    auto& subs = self->state.subscribers;
    if (subs.erase(dm.source) > 0 && subs.empty())
      arm_linger(self, *cfg);
  });
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
      count_tick(st, self->clock().now());
      // One shared, immutable payload for all subscribers.
      st.last = caf::make_message(std::move(u));
      for (auto& kvp : st.subscribers)
        self->send(kvp.second, st.last);
    },
    // --- from sessions (and, in a cluster, relays) ---
    [=](subscribe_atom, const caf::actor& who) -> std::vector<price_update> {
      auto& st = self->state;
      if (who && st.subscribers.emplace(who.address(), who).second) {
        self->monitor(who);
        ++st.linger_generation; // disarms a pending linger timer
      }
      return last_of(st);
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
    // --- from the inspector and tests ---
    [=](stats_atom) {
      auto& st = self->state;
      return caf::make_message(static_cast<uint64_t>(st.subscribers.size()),
                               st.seq);
    },
    [=](describe_atom) { return describe(self); },
    // --- own timers ---
    [=](linger_atom, uint64_t gen) {
      auto& st = self->state;
      if (gen == st.linger_generation && st.subscribers.empty())
        self->quit();
    },
  };
}

} // namespace

caf::actor spawn_ticker_broadcaster(caf::actor_system& sys, std::string ticker,
                                    const node_config& cfg, metrics& m) {
  return sys.spawn(ticker_broadcaster, std::move(ticker), &cfg, &m);
}

} // namespace mm
