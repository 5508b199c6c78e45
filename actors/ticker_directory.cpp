#include "actors/ticker_directory.hpp"

#include <algorithm>
#include <memory>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/messages.hpp"
#include "actors/metrics.hpp"
#include "actors/node_config.hpp"
#include "actors/ticker_broadcaster.hpp"

namespace mm {

namespace {

struct directory_state {
  static inline constexpr const char* name = "ticker_directory";

  caf::actor listener;
  std::unordered_map<std::string, caf::actor> broadcasters;
  std::unordered_map<caf::actor_addr, std::string> tickers;
};

using directory_actor = caf::stateful_actor<directory_state>;

/// Collects the replies of several broadcasters for one GetLastPrices.
struct last_prices {
  explicit last_prices(caf::response_promise p, size_t n)
    : promise(std::move(p)), pending(n) {
    // nop
  }
  caf::response_promise promise;
  size_t pending;
  std::vector<price_update> result;

  void done() {
    if (--pending > 0)
      return;
    std::sort(result.begin(), result.end(),
              [](const auto& x, const auto& y) { return x.ticker < y.ticker; });
    promise.deliver(std::move(result));
  }
};

/// Collects the descriptions of all broadcasters for the inspector.
struct ticker_descriptions {
  explicit ticker_descriptions(caf::response_promise p, size_t n)
    : promise(std::move(p)), pending(n) {
    // nop
  }
  caf::response_promise promise;
  size_t pending;
  std::vector<ticker_info> result;

  void done() {
    if (--pending > 0)
      return;
    std::sort(result.begin(), result.end(),
              [](const auto& x, const auto& y) { return x.ticker < y.ticker; });
    promise.deliver(std::move(result));
  }
};

caf::error unknown_ticker(const std::string& ticker) {
  return caf::make_error(admin_ec::unknown_ticker,
                         "no broadcaster for ticker " + ticker
                           + ": nobody subscribes to it");
}

caf::behavior ticker_directory(directory_actor* self, caf::actor listener,
                               const node_config* cfg, metrics* m) {
  // Watches the broadcasters it spawned (monitor); a broadcaster that ends is
  // forgotten, so the next demand for its ticker spawns a fresh one.
  self->state.listener = std::move(listener);
  self->set_down_handler([=](const caf::down_msg& dm) {
    auto& st = self->state;
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
        const caf::actor& dead_hint) -> caf::actor {
      auto& st = self->state;
      auto i = st.broadcasters.find(ticker);
      if (i != st.broadcasters.end() && i->second != dead_hint)
        return i->second;
      // A broadcaster that lingered out may still be in our map until its
      // down_msg arrives: the caller's dead_hint says it is gone.
      auto b = spawn_ticker_broadcaster(self->system(), ticker, *cfg, *m);
      self->monitor(b);
      st.broadcasters[ticker] = b;
      st.tickers[b.address()] = ticker;
      self->send(st.listener, watch_atom::value, ticker, b);
      return b;
    },
    [=](last_atom, const std::vector<std::string>& tickers)
      -> caf::result<std::vector<price_update>> {
      auto& st = self->state;
      std::vector<caf::actor> known;
      for (auto& t : tickers) {
        auto i = st.broadcasters.find(t);
        if (i != st.broadcasters.end())
          known.push_back(i->second);
      }
      if (known.empty())
        return std::vector<price_update>{};
      auto acc = std::make_shared<last_prices>(self->make_response_promise(),
                                               known.size());
      for (auto& b : known)
        self->request(b, caf::infinite, last_atom::value)
          .then(
            [acc](const std::vector<price_update>& xs) {
              acc->result.insert(acc->result.end(), xs.begin(), xs.end());
              acc->done();
            },
            [acc](const caf::error&) {
              // Lingered out meanwhile: its ticker is simply absent.
              acc->done();
            });
      return caf::delegated<std::vector<price_update>>{};
    },
    // --- from the inspector ---
    [=](describe_atom) -> caf::result<std::vector<ticker_info>> {
      auto& st = self->state;
      if (st.broadcasters.empty())
        return std::vector<ticker_info>{};
      auto acc = std::make_shared<ticker_descriptions>(
        self->make_response_promise(), st.broadcasters.size());
      for (auto& kvp : st.broadcasters)
        self->request(kvp.second, caf::infinite, describe_atom::value)
          .then(
            [acc](const ticker_info& x) {
              acc->result.push_back(x);
              acc->done();
            },
            [acc](const caf::error&) { acc->done(); });
      return caf::delegated<std::vector<ticker_info>>{};
    },
    [=](describe_atom,
        const std::string& ticker) -> caf::result<ticker_info> {
      auto& st = self->state;
      auto i = st.broadcasters.find(ticker);
      if (i == st.broadcasters.end())
        return unknown_ticker(ticker);
      auto rp = self->make_response_promise<ticker_info>();
      self->request(i->second, caf::infinite, describe_atom::value)
        .then([rp](const ticker_info& x) mutable { rp.deliver(x); },
              [rp, ticker](const caf::error&) mutable {
                // Lingered out meanwhile.
                rp.deliver(unknown_ticker(ticker));
              });
      return rp;
    },
  };
}

} // namespace

caf::actor spawn_ticker_directory(caf::actor_system& sys, caf::actor listener,
                                  const node_config& cfg, metrics& m) {
  return sys.spawn(ticker_directory, std::move(listener), &cfg, &m);
}

} // namespace mm
