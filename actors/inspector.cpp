#include "actors/inspector.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <unordered_map>
#include <utility>

#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/errors.hpp"
#include "actors/gather.hpp"
#include "actors/health.hpp"
#include "actors/inspection.hpp"
#include "actors/interfaces.hpp"
#include "actors/messages.hpp"
#include "actors/metrics.hpp"
#include "actors/node.hpp"
#include "actors/peer_guard.hpp"
#include "actors/tickers.hpp"
#include "logging/log.hpp"

namespace mm {

namespace {

/// How long the inspector waits for the node's actors to answer; a node
/// with many sessions needs a while to ask each of them.
constexpr auto answer_timeout = std::chrono::seconds(30);

/// The inspector's interface with its own timer.
using inspector_impl = inspector_actor::extend<
  // A held-back refusal of a wrong secret is due.
  caf::reacts_to<linger_atom, uint64_t>>;

struct inspector_state;
using inspector_ptr = guarded_actor<inspector_state, inspector_impl::base>*;

struct inspector_state {
  static inline constexpr const char* name = "inspector";

  /// The shell's requests (each carries the secret, checked by its
  /// handler); nothing else from another node.
  static verdict screen(inspector_ptr self, const inbound& in);

  inspected n;
  caf::actor_clock::time_point started;
  bool registry_up = true;
  bool directory_up = true;
  bool listener_up = true;
  /// Wrong secrets in a row, by the sender's node.
  std::unordered_map<std::string, uint64_t> failures;
  /// Refusals held back until their timer (rejected).
  std::unordered_map<uint64_t, caf::response_promise> held;
  uint64_t next_reject = 0;
};

verdict inspector_state::screen(inspector_ptr, const inbound& in) {
  if (!in.remote)
    return verdict::accept;
  using str = std::string;
  if (in.is<watch_atom, str, std::vector<str>, subscriber>()) {
    // A shell subscribes its own actors only.
    auto& who = *static_cast<const subscriber*>(in.content.get(3));
    return who && who.node() == in.node() ? verdict::accept : verdict::refuse;
  }
  if (in.is<hello_atom, str>() || in.is<stats_atom, str>()
      || in.is<sessions_atom, str, str, uint32_t>()
      || in.is<session_atom, str, str>() || in.is<tickers_atom, str>()
      || in.is<ticker_atom, str, str>() || in.is<actors_atom, str>()
      || in.is<nodes_atom, str>() || in.is<kill_atom, str, str, str>())
    return verdict::accept;
  return verdict::refuse;
}

/// Compares in time independent of where the first difference is, so the
/// answer time does not leak the secret.
bool same_secret(const std::string& x, const std::string& y) {
  unsigned char diff = x.size() == y.size() ? 0 : 1;
  for (size_t i = 0; i < x.size(); ++i)
    diff |= static_cast<unsigned char>(x[i] ^ (i < y.size() ? y[i] : 0));
  return diff == 0;
}

/// The longest an answer to a wrong secret is held back.
constexpr uint32_t max_reject_delay_ms = 5000;

/// Whether `secret` is the node's. A wrong one counts against the sender's
/// node: its answers come later and later (rejected), and it is logged.
bool secret_ok(inspector_ptr self, const std::string& secret) {
  auto& st = self->state;
  auto sender = self->current_sender();
  auto peer = sender ? to_string(sender->node()) : std::string{"?"};
  if (same_secret(secret, st.n.cfg->admin_secret)) {
    st.failures.erase(peer);
    return true;
  }
  auto n = ++st.failures[peer];
  // 1, 2, 4, 8, ... failures in a row: a guesser logs a few lines only.
  if ((n & (n - 1)) == 0)
    log::warn("security", "admin secret rejected for node " + peer + " ("
                            + std::to_string(n)
                            + " in a row); its answers are delayed");
  if (st.failures.size() > 10000)
    st.failures.clear(); // many peers: forget, rather than grow
  return false;
}

/// Refuses with admin_ec::secret_rejected after a delay that doubles with
/// every failure of the sender's node in a row (100 ms up to 5 s): timers,
/// no actor thread waits.
template <class T>
caf::result<T> rejected(inspector_ptr self) {
  auto& st = self->state;
  auto sender = self->current_sender();
  auto peer = sender ? to_string(sender->node()) : std::string{"?"};
  auto n = std::min<uint64_t>(st.failures[peer], 16);
  auto delay = std::min<uint64_t>(max_reject_delay_ms, 100ull << (n - 1));
  auto id = ++st.next_reject;
  st.held.emplace(id, self->make_response_promise());
  self->delayed_send(self, std::chrono::milliseconds{delay}, linger_atom::value,
                     id);
  return caf::delegated<T>{};
}

caf::error parse_ticker(const std::string& raw, std::string& out) {
  out = normalize_ticker(raw);
  if (out.empty())
    return caf::make_error(admin_ec::bad_argument,
                           "\"" + raw + "\" is not a ticker");
  return {};
}

node_stats make_stats(inspector_ptr self,
                      const std::vector<std::string>& reasons,
                      const std::vector<uint64_t>& counts) {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  auto& m = *self->state.n.stats;
  auto get = [](const auto& x) { return x.load(std::memory_order_relaxed); };
  node_stats x;
  x.sessions = get(m.sessions);
  x.streams = get(m.streams);
  x.broadcasters = get(m.broadcasters);
  x.redis_subscriptions = get(m.redis_subscriptions);
  x.actors_running = self->system().registry().running();
  x.sessions_created_total = get(m.sessions_created_total);
  for (size_t i = 0; i < reasons.size() && i < counts.size(); ++i)
    x.sessions_ended_total[reasons[i]] = counts[i];
  x.ticks_received_total = get(m.ticks_received_total);
  x.ticks_malformed_total = get(m.ticks_malformed_total);
  x.updates_delivered_total = get(m.updates_delivered_total);
  x.updates_conflated_total = get(m.updates_conflated_total);
  x.batches_sent_total = get(m.batches_sent_total);
  x.redis_connected = get(m.redis_connected);
  x.history_entries = get(m.history_entries);
  x.history_bytes = get(m.history_bytes);
  auto health = check_health(m, *self->state.n.cfg);
  x.serving = health.serving;
  x.health_reason = std::move(health.why);
  x.uptime_ms =
    duration_cast<milliseconds>(self->clock().now() - self->state.started)
      .count();
  return x;
}

inspector_impl::behavior_type inspector(inspector_ptr self,
                                        const inspected& n) {
  // Watches the node's long-lived actors (they outlive no inspector, so the
  // monitors leave nothing stale behind) to say whether they still run.
  auto& st = self->state;
  st.n = n;
  st.started = self->clock().now();
  self->monitor(n.registry);
  self->monitor(n.directory);
  // An edge has no listener.
  if (n.listener)
    self->monitor(n.listener);
  else
    st.listener_up = false;
  self->set_down_handler([=](const caf::down_msg& dm) {
    auto& st = self->state;
    if (dm.source == st.n.registry.address())
      st.registry_up = false;
    else if (dm.source == st.n.directory.address())
      st.directory_up = false;
    else if (dm.source == st.n.listener.address())
      st.listener_up = false;
  });
  auto registry = n.registry;
  auto directory = n.directory;
  return {
    // --- own timers: a held-back refusal is due ---
    [=](linger_atom, uint64_t id) {
      auto& held = self->state.held;
      auto i = held.find(id);
      if (i == held.end())
        return;
      i->second.deliver(
        caf::make_error(admin_ec::secret_rejected, "admin secret rejected"));
      held.erase(i);
    },
    [=](hello_atom, const std::string& secret) -> caf::result<std::string> {
      if (!secret_ok(self, secret))
        return rejected<std::string>(self);
      return std::string{"marketmonitor inspector"};
    },
    [=](stats_atom, const std::string& secret) -> caf::result<node_stats> {
      if (!secret_ok(self, secret))
        return rejected<node_stats>(self);
      auto rp = self->make_response_promise<node_stats>();
      self->request(registry, answer_timeout, stats_atom::value)
        .then(
          [=](const std::vector<std::string>& reasons,
              const std::vector<uint64_t>& counts) mutable {
            rp.deliver(make_stats(self, reasons, counts));
          },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](sessions_atom, const std::string& secret, const std::string& ticker,
        uint32_t limit) -> caf::result<std::vector<session_info>> {
      if (!secret_ok(self, secret))
        return rejected<std::vector<session_info>>(self);
      std::string filter;
      if (!ticker.empty())
        if (auto err = parse_ticker(ticker, filter))
          return err;
      auto rp = self->make_response_promise<std::vector<session_info>>();
      self->request(registry, answer_timeout, describe_atom::value)
        .then(
          [=](std::vector<session_info>& xs) mutable {
            if (!filter.empty())
              xs.erase(std::remove_if(xs.begin(), xs.end(),
                                      [&](const session_info& x) {
                                        return std::find(x.tickers.begin(),
                                                         x.tickers.end(),
                                                         filter)
                                               == x.tickers.end();
                                      }),
                       xs.end());
            std::sort(xs.begin(), xs.end(), [](const auto& x, const auto& y) {
              return x.created_ns != y.created_ns ? x.created_ns < y.created_ns
                                                  : x.id < y.id;
            });
            if (limit > 0 && xs.size() > limit)
              xs.resize(limit);
            rp.deliver(std::move(xs));
          },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](session_atom, const std::string& secret,
        const std::string& id) -> caf::result<session_info> {
      if (!secret_ok(self, secret))
        return rejected<session_info>(self);
      auto rp = self->make_response_promise<session_info>();
      self->request(registry, answer_timeout, find_atom::value, id)
        .then(
          [=](const session_actor& s) mutable {
            self->request(s, answer_timeout, describe_atom::value)
              .then([=](session_info& x) mutable { rp.deliver(std::move(x)); },
                    [=](const caf::error&) mutable {
                      rp.deliver(
                        caf::make_error(ec::unknown_session,
                                        "session " + id + " ended just now"));
                    });
          },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](tickers_atom,
        const std::string& secret) -> caf::result<std::vector<ticker_info>> {
      if (!secret_ok(self, secret))
        return rejected<std::vector<ticker_info>>(self);
      // Asked as the inspector, not delegated: a delegated message keeps
      // the shell (another node) as its sender, and the directory answers
      // `describe` to local actors only (peer_guard.hpp).
      auto rp = self->make_response_promise<std::vector<ticker_info>>();
      self->request(directory, answer_timeout, describe_atom::value)
        .then(
          [=](std::vector<ticker_info>& xs) mutable {
            rp.deliver(std::move(xs));
          },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](ticker_atom, const std::string& secret,
        const std::string& raw) -> caf::result<ticker_info> {
      if (!secret_ok(self, secret))
        return rejected<ticker_info>(self);
      std::string ticker;
      if (auto err = parse_ticker(raw, ticker))
        return err;
      auto rp = self->make_response_promise<ticker_info>();
      self->request(directory, answer_timeout, describe_atom::value, ticker)
        .then([=](ticker_info& x) mutable { rp.deliver(std::move(x)); },
              [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](actors_atom, const std::string& secret) -> caf::result<actor_counts> {
      if (!secret_ok(self, secret))
        return rejected<actor_counts>(self);
      auto rp = self->make_response_promise<actor_counts>();
      self->request(directory, answer_timeout, describe_atom::value)
        .then(
          [=](const std::vector<ticker_info>& xs) mutable {
            auto& st = self->state;
            auto& m = *st.n.stats;
            actor_counts x;
            x.sessions = m.sessions.load(std::memory_order_relaxed);
            x.broadcasters = m.broadcasters.load(std::memory_order_relaxed);
            for (auto& t : xs)
              x.watchers += t.remote_subscribers;
            x.registry = st.registry_up ? 1 : 0;
            x.directory = st.directory_up ? 1 : 0;
            x.listener = st.listener_up ? 1 : 0;
            x.inspector = 1;
            x.total = self->system().registry().running();
            rp.deliver(x);
          },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](nodes_atom,
        const std::string& secret) -> caf::result<std::vector<node_info>> {
      if (!secret_ok(self, secret))
        return rejected<std::vector<node_info>>(self);
      auto rp = self->make_response_promise<std::vector<node_info>>();
      auto me = self->state.n.identity->describe(self->system(),
                                                 *self->state.n.stats);
      self->request(directory, answer_timeout, nodes_atom::value)
        .then(
          [=](std::vector<node_info>& peers) mutable {
            peers.insert(peers.begin(), me);
            rp.deliver(std::move(peers));
          },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](kill_atom, const std::string& secret, const std::string& id,
        const std::string& reason) -> caf::result<void> {
      if (!secret_ok(self, secret))
        return rejected<void>(self);
      auto rp = self->make_response_promise<caf::unit_t>();
      self->request(registry, answer_timeout, find_atom::value, id)
        .then(
          [=](const session_actor& s) mutable {
            self->send(s, kill_atom::value, reason);
            rp.deliver(caf::unit);
          },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](watch_atom, const std::string& secret,
        const std::vector<std::string>& raw,
        const subscriber& who) -> caf::result<std::vector<std::string>> {
      if (!secret_ok(self, secret))
        return rejected<std::vector<std::string>>(self);
      auto normalized = normalize_tickers(raw);
      if (!normalized)
        return caf::make_error(admin_ec::bad_argument,
                               text_of(normalized.error()));
      auto tickers = std::move(*normalized);
      if (!who)
        return caf::make_error(admin_ec::bad_argument, "no subscriber given");
      auto acc = gather<std::string>::start(self, tickers.size());
      for (auto& t : tickers) {
        auto fail = [acc](caf::error& err) { acc->fail(std::move(err)); };
        self
          ->request(directory, answer_timeout, get_atom::value, t, publisher{})
          .then(
            [=](const publisher& b) {
              // The broadcaster monitors `who`: when it exits, or its node
              // is lost, the subscription is gone too.
              self->request(b, answer_timeout, subscribe_atom::value, who)
                .then([=](const std::vector<price_update>&) { acc->add(t); },
                      fail);
            },
            fail);
      }
      return acc->delegated();
    },
  };
}

} // namespace

inspector_actor spawn_inspector(caf::actor_system& sys, node& n) {
  inspected parts;
  parts.cfg = &n.config();
  parts.stats = &n.stats();
  parts.identity = &n.identity();
  parts.registry = n.registry();
  parts.directory = n.directory();
  parts.listener = n.listener();
  return spawn_inspector(sys, parts);
}

inspector_actor spawn_inspector(caf::actor_system& sys,
                                const inspected& parts) {
  return sys.spawn(inspector, parts);
}

} // namespace mm
