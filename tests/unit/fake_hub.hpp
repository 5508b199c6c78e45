#pragma once

// A stand-in hub for the edge's cluster actors on the test coordinator: a
// hub directory that hands out one recording broadcaster per ticker, as a
// hub link delegates to it (relay_test, relay_directory_test).

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <caf/event_based_actor.hpp>

#include "actors/inspection.hpp"
#include "actors/messages.hpp"
#include "actors/price_update.hpp"

namespace mm::test {

/// What the stand-in hub saw and how it behaves.
struct hub_state {
  /// The current broadcaster per ticker.
  std::map<std::string, caf::actor> broadcasters;
  /// The dead hint of every lookup, per ticker (null: none).
  std::map<std::string, std::vector<caf::actor>> dead_hints;
  /// Who is subscribed at the current broadcaster, per ticker.
  std::map<std::string, std::set<caf::actor_addr>> subscribers;
  /// Subscriptions and unsubscriptions ever made, per ticker.
  std::map<std::string, int> subscribes;
  std::map<std::string, int> unsubscribes;
  /// What a new subscription gets: the hub's last update per ticker.
  std::map<std::string, price_update> last;
  /// While set, the broadcasters answer no subscription until told
  /// (ok_atom, sent to the broadcaster).
  bool hold_subscribe = false;
  /// While set, lookups fail as at a hub link whose hub is away.
  bool down = false;
  /// Told (start_atom).
  int started = 0;
};

using hub_ptr = std::shared_ptr<hub_state>;

/// A hub's broadcaster of `ticker`: records (un)subscriptions and sends the
/// subscribers a price_update for each `double` the test sends it.
inline caf::behavior recording_broadcaster(caf::event_based_actor* self,
                                           hub_ptr hub, std::string ticker) {
  auto epoch = make_epoch();
  auto seq = std::make_shared<uint64_t>(0);
  auto subs = std::make_shared<std::vector<caf::actor>>();
  auto held = std::make_shared<std::vector<caf::response_promise>>();
  auto reply = [=] {
    resume_reply r;
    if (auto i = hub->last.find(ticker); i != hub->last.end())
      r.updates.push_back(i->second);
    return r;
  };
  return {
    [=](subscribe_atom, const caf::actor& who,
        const stream_position&) -> caf::result<resume_reply> {
      subs->push_back(who);
      hub->subscribers[ticker].insert(who.address());
      ++hub->subscribes[ticker];
      if (hub->hold_subscribe) {
        held->push_back(self->make_response_promise());
        return caf::delegated<resume_reply>{};
      }
      return reply();
    },
    [=](ok_atom) {
      for (auto& rp : *held)
        rp.deliver(reply());
      held->clear();
    },
    [=](unsubscribe_atom, const caf::actor& who) {
      subs->erase(std::remove(subs->begin(), subs->end(), who), subs->end());
      hub->subscribers[ticker].erase(who.address());
      ++hub->unsubscribes[ticker];
    },
    [=](double price) {
      price_update u;
      u.ticker = ticker;
      u.price = price;
      u.seq = ++*seq;
      u.epoch = epoch;
      for (auto& s : *subs)
        self->send(s, u);
    },
  };
}

/// Stands in for a hub link with its hub behind it: hands out the hub's
/// broadcaster per ticker (a new one when asked with the current one as
/// dead hint), answers last and health for the hub, records start.
inline caf::behavior fake_hub_link(caf::event_based_actor* self, hub_ptr hub) {
  return {
    [=](start_atom) { ++hub->started; },
    [=](get_atom, const std::string& ticker,
        const caf::actor& dead) -> caf::result<caf::actor> {
      hub->dead_hints[ticker].push_back(dead);
      if (hub->down)
        return caf::make_error(caf::sec::request_receiver_down, "hub down");
      auto& b = hub->broadcasters[ticker];
      if (!b || b == dead) {
        b = self->spawn(recording_broadcaster, hub, ticker);
        hub->subscribers[ticker].clear();
      }
      return b;
    },
    [=](last_atom, const std::vector<std::string>& tickers) {
      std::vector<price_update> xs;
      for (auto& t : tickers)
        if (auto i = hub->last.find(t); i != hub->last.end())
          xs.push_back(i->second);
      return xs;
    },
  };
}

} // namespace mm::test
