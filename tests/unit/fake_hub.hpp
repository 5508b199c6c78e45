#pragma once

// A stand-in hub for the edge's cluster actors on the test coordinator: a
// hub link whose hub hands out one recording broadcaster per ticker, as a
// hub's directory does, and a fixture with one such link per hub
// (failover_test, relay_test, relay_directory_test).

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/interfaces.hpp"
#include "actors/messages.hpp"
#include "actors/node_config.hpp"
#include "actors/price_update.hpp"

#include "tests/unit/actor_fixture.hpp"

namespace mm::test {

/// A hub's broadcaster as a relay sees it, and from the test: (ok_atom) to
/// answer held subscriptions, a `double` to publish.
using fake_broadcaster_actor =
  ticker_publisher_actor::extend<caf::reacts_to<ok_atom>,
                                 caf::reacts_to<double>>;

/// What one stand-in hub saw, and how it behaves.
struct hub_record {
  /// The current broadcaster per ticker.
  std::map<std::string, fake_broadcaster_actor> broadcasters;
  /// The epoch of each broadcaster ever spawned, per ticker (newest last).
  std::map<std::string, std::vector<uint64_t>> epochs;
  /// The dead hint of every lookup, per ticker (null: none).
  std::map<std::string, std::vector<publisher>> dead_hints;
  /// Who is subscribed per ticker (at the current broadcaster).
  std::map<std::string, std::set<caf::actor_addr>> subscribers;
  /// Subscriptions and unsubscriptions ever made, per ticker.
  std::map<std::string, int> subscribes;
  std::map<std::string, int> unsubscribes;
  /// What a subscription gets: the hub's last update per ticker (none: an
  /// empty reply, as from another epoch than the relay's).
  std::map<std::string, price_update> last;
  /// Told (start_atom).
  int started = 0;
  /// While set, lookups fail, as at a link whose hub is away.
  bool down = false;
  /// While set, the link answers nothing until told (ok_atom).
  bool hold = false;
  /// While set, the broadcasters answer no subscription until told.
  bool hold_subscribe = false;
  /// While set, the broadcasters record an unsubscribe but keep sending,
  /// as ticks already on their way when it came do.
  bool keep_sending = false;
  std::vector<std::pair<caf::typed_response_promise<publisher>, publisher>>
    held;
};

using record_ptr = std::shared_ptr<hub_record>;

/// A hub's broadcaster of `ticker`: records (un)subscriptions and sends its
/// subscribers a price_update for each `double` the test sends it. A relay
/// subscribes with a position only; the other requests of the interface
/// are refused.
inline fake_broadcaster_actor::behavior_type
fake_broadcaster(fake_broadcaster_actor::pointer self, record_ptr rec,
                 std::string ticker) {
  auto epoch = make_epoch();
  rec->epochs[ticker].push_back(epoch);
  auto seq = std::make_shared<uint64_t>(0);
  auto subs = std::make_shared<std::vector<subscriber>>();
  auto held =
    std::make_shared<std::vector<caf::typed_response_promise<resume_reply>>>();
  auto not_a_relays = [] {
    return caf::make_error(caf::sec::unexpected_message,
                           "the stand-in hub answers a relay's requests only");
  };
  auto reply = [=] {
    resume_reply r;
    if (auto i = rec->last.find(ticker); i != rec->last.end())
      r.updates.push_back(i->second);
    return r;
  };
  return {
    [=](subscribe_atom, const subscriber& who,
        const stream_position&) -> caf::result<resume_reply> {
      subs->push_back(who);
      rec->subscribers[ticker].insert(who.address());
      ++rec->subscribes[ticker];
      if (rec->hold_subscribe) {
        held->push_back(self->make_response_promise<resume_reply>());
        return held->back();
      }
      return reply();
    },
    // From the test: answer the held subscriptions now.
    [=](ok_atom) {
      for (auto& rp : *held)
        rp.deliver(reply());
      held->clear();
    },
    [=](unsubscribe_atom, const subscriber& who) {
      if (!rec->keep_sending)
        subs->erase(std::remove(subs->begin(), subs->end(), who), subs->end());
      rec->subscribers[ticker].erase(who.address());
      ++rec->unsubscribes[ticker];
    },
    // From the test: one tick.
    [=](double price) {
      price_update u;
      u.ticker = ticker;
      u.price = price;
      u.seq = ++*seq;
      u.epoch = epoch;
      for (auto& s : *subs)
        self->send(s, u);
    },
    [=](subscribe_atom, const subscriber&)
      -> caf::result<std::vector<price_update>> { return not_a_relays(); },
    [=](subscribe_atom, const inbox_sink_actor&, const session_inbox_ptr&,
        uint32_t) -> caf::result<std::vector<price_update>> {
      return not_a_relays();
    },
    [=](subscribe_atom, const inbox_sink_actor&, const session_inbox_ptr&,
        uint32_t, const stream_position&) -> caf::result<resume_reply> {
      return not_a_relays();
    },
    [=](last_atom) -> caf::result<std::vector<price_update>> {
      return not_a_relays();
    },
    [=](health_atom) -> caf::result<ticker_health> { return not_a_relays(); },
    [=](stats_atom) -> caf::result<uint64_t, uint64_t> {
      return not_a_relays();
    },
    [=](describe_atom) -> caf::result<ticker_info> { return not_a_relays(); },
  };
}

/// A stand-in hub link: a hub link's interface, and (ok_atom) from the test
/// to answer the lookups it holds.
using fake_link_actor = hub_link_actor::extend<caf::reacts_to<ok_atom>>;

/// Stands in for a hub link: hands out the hub's broadcaster per ticker (a
/// new one when asked with the current one as dead hint), answers last,
/// health and node for the hub, records start.
inline fake_link_actor::behavior_type fake_link(fake_link_actor::pointer self,
                                                record_ptr rec) {
  auto broadcaster_of = [=](const std::string& ticker, const publisher& dead) {
    auto& b = rec->broadcasters[ticker];
    if (!b || b.address() == dead.address()) {
      b = self->spawn(fake_broadcaster, rec, ticker);
      rec->subscribers[ticker].clear();
    }
    return b;
  };
  return {
    [=](start_atom) { ++rec->started; },
    [=](get_atom, const std::string& ticker,
        const publisher& dead) -> caf::result<publisher> {
      rec->dead_hints[ticker].push_back(dead);
      if (rec->down)
        return caf::make_error(caf::sec::request_receiver_down, "hub down");
      publisher b = broadcaster_of(ticker, dead);
      if (rec->hold) {
        auto rp = self->template make_response_promise<publisher>();
        rec->held.emplace_back(rp, b);
        return rp;
      }
      return b;
    },
    // From the test: answer the held requests now.
    [=](ok_atom) {
      auto held = std::move(rec->held);
      rec->held.clear();
      for (auto& [rp, b] : held)
        rp.deliver(b);
    },
    [=](last_atom, const std::vector<std::string>& tickers) {
      std::vector<price_update> xs;
      for (auto& t : tickers)
        if (auto i = rec->last.find(t); i != rec->last.end())
          xs.push_back(i->second);
      return xs;
    },
    [=](health_atom, const std::vector<std::string>& tickers) {
      std::vector<ticker_health> xs;
      for (auto& t : tickers) {
        xs.emplace_back();
        xs.back().ticker = t;
        xs.back().upstream_connected = !rec->down;
      }
      return xs;
    },
    [=](node_atom) {
      node_info x;
      x.role = "hub";
      x.state = rec->down ? "connecting" : "connected";
      return x;
    },
  };
}

/// An edge's config with `hubs`, and a stand-in link per hub.
class edge_fixture : public actor_fixture {
public:
  explicit edge_fixture(std::vector<std::string> hubs) {
    ncfg.role = node_role::edge;
    ncfg.hubs = std::move(hubs);
    ncfg.hub_retry_max_ms = 1000;
    ncfg.connection_timeout_ms = 1000;
    ncfg.history_size = 16;
    for (size_t i = 0; i < ncfg.hubs.size(); ++i) {
      recs.push_back(std::make_shared<hub_record>());
      links.push_back(sys.spawn(fake_link, recs.back()));
      cleanup.push_back(links.back());
    }
  }

  ~edge_fixture() override {
    for (auto& rec : recs)
      for (auto& kvp : rec->broadcasters)
        if (kvp.second)
          caf::anon_send_exit(kvp.second, caf::exit_reason::user_shutdown);
  }

  /// The stand-in links as the relay directory takes them.
  std::vector<hub_link_actor> hub_links() const {
    return {links.begin(), links.end()};
  }

  /// Per hub, in the order of `ncfg.hubs`.
  std::vector<record_ptr> recs;
  std::vector<fake_link_actor> links;
};

} // namespace mm::test
