#include "actors/session_registry.hpp"

#include <chrono>
#include <cstdio>
#include <memory>
#include <string_view>
#include <unordered_map>

#include <sys/random.h>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/errors.hpp"
#include "actors/gather.hpp"
#include "actors/interfaces.hpp"
#include "actors/messages.hpp"
#include "actors/metrics.hpp"
#include "actors/node_config.hpp"
#include "actors/session.hpp"
#include "logging/log.hpp"

namespace mm {

namespace {

/// What the registry knows of a running session.
struct session_entry {
  std::string id;
  caf::actor_clock::time_point created;
  size_t tickers = 0;
  /// The client that started it (caller::key(); empty: not counted).
  std::string client;
  /// For the session's end line: the verified identity that started it
  /// (empty: none), and the peer of its stream when it came with one
  /// (Subscribe), else the host of the starting call when `client` has it.
  std::string identity;
  std::string peer;
};

/// The peer to log for a session started by `client` with `sink`.
std::string peer_of(const stream_sink_ptr& sink, const std::string& client) {
  if (sink)
    return sink->peer();
  constexpr std::string_view host_key = "peer:";
  if (client.compare(0, host_key.size(), host_key) == 0)
    return client.substr(host_key.size());
  return {};
}

struct registry_state {
  static inline constexpr const char* name = "session_registry";

  ticker_directory_actor directory;
  std::unordered_map<std::string, session_actor> sessions;
  /// The identity that started each session (by id), when it had one:
  /// only it finds the session (docs/security.md).
  std::unordered_map<std::string, std::string> owners;
  std::unordered_map<caf::actor_addr, session_entry> ids;
  /// Running sessions per client (--max-sessions-per-client); a client's
  /// entry goes with its last session.
  std::unordered_map<std::string, uint32_t> per_client;
  /// sessions_ended_total by exit reason.
  std::map<std::string, uint64_t> ended;
  bool shutting_down = false;
};

using registry_actor = session_registry_actor::stateful_pointer<registry_state>;

/// A random UUIDv4: 122 bits from the kernel's CSPRNG, since an id is all a
/// client needs to stream or stop a session.
std::string make_session_id() {
  uint8_t b[16];
  size_t got = 0;
  while (got < sizeof(b)) {
    auto n = getrandom(b + got, sizeof(b) - got, 0);
    if (n > 0)
      got += static_cast<size_t>(n);
  }
  b[6] = static_cast<uint8_t>((b[6] & 0x0F) | 0x40);
  b[8] = static_cast<uint8_t>((b[8] & 0x3F) | 0x80);
  char buf[37];
  std::snprintf(buf, sizeof(buf),
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
                "%02x%02x%02x%02x%02x%02x",
                b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
                b[10], b[11], b[12], b[13], b[14], b[15]);
  return buf;
}

std::string reason_name(const caf::error& reason) {
  auto code = code_of(reason);
  if (code != ec::none)
    return to_string(code);
  if (!reason)
    return "normal";
  if (reason.category() == caf::atom("exit"))
    return to_string(static_cast<caf::exit_reason>(reason.code()));
  return to_string(reason);
}

/// The metrics label of `reason` (docs/operations.md). gRPC does not say why
/// a stream was cancelled: the bridge tells a passed deadline apart
/// (deadline_exceeded), while a client's cancel, a broken connection and
/// one gRPC's keepalive declared dead all end with stream_ended. A peer
/// that took no data for the write stall (client_not_reading) is peer_dead.
end_reason end_reason_of(const caf::error& reason) {
  switch (code_of(reason)) {
    case ec::stopped: return end_reason::stop;
    case ec::stream_ended: return end_reason::cancel;
    case ec::deadline_exceeded: return end_reason::deadline;
    case ec::attach_timeout: return end_reason::attach_timeout;
    case ec::slow_consumer: return end_reason::evicted;
    case ec::client_not_reading: return end_reason::peer_dead;
    case ec::token_expired: return end_reason::token_expired;
    case ec::killed: return end_reason::killed;
    case ec::shutting_down: return end_reason::shutdown;
    default: break;
  }
  if (reason.category() == caf::atom("exit"))
    return end_reason::shutdown;
  return end_reason::other;
}

session_registry_actor::behavior_type
session_registry(registry_actor self, ticker_directory_actor directory,
                 const node_config* cfg, metrics* m) {
  // Watches every session it creates (monitor); ids of sessions that end are
  // dropped and counted by reason. Sessions never watch the registry back.
  self->state.directory = std::move(directory);
  self->set_down_handler([=](const caf::down_msg& dm) {
    auto& st = self->state;
    auto i = st.ids.find(dm.source);
    if (i == st.ids.end())
      return;
    auto name = reason_name(dm.reason);
    if (cfg->log_sessions) {
      const auto& x = i->second;
      auto lived = std::chrono::duration_cast<std::chrono::milliseconds>(
                     self->clock().now() - x.created)
                     .count();
      if (x.identity.empty())
        log::info("session", "ended",
                  {{"session", x.id},
                   {"peer", x.peer},
                   {"tickers", x.tickers},
                   {"reason", name},
                   {"lived_ms", lived}});
      else if (x.peer.empty())
        log::info("session", "ended",
                  {{"session", x.id},
                   {"identity", x.identity},
                   {"tickers", x.tickers},
                   {"reason", name},
                   {"lived_ms", lived}});
      else
        log::info("session", "ended",
                  {{"session", x.id},
                   {"peer", x.peer},
                   {"identity", x.identity},
                   {"tickers", x.tickers},
                   {"reason", name},
                   {"lived_ms", lived}});
    }
    st.sessions.erase(i->second.id);
    st.owners.erase(i->second.id);
    if (auto& client = i->second.client; !client.empty()) {
      auto c = st.per_client.find(client);
      if (c != st.per_client.end() && --c->second == 0)
        st.per_client.erase(c);
    }
    st.ids.erase(i);
    ++st.ended[name];
    m->count_end(end_reason_of(dm.reason));
    metrics::add(m->sessions, -1);
  });
  self->set_exit_handler([=](const caf::exit_msg& msg) {
    for (auto& kvp : self->state.sessions)
      self->send_exit(kvp.second,
                      caf::make_error(ec::shutting_down,
                                      "the server is shutting down"));
    self->quit(msg.reason);
  });
  auto create = [=](const std::vector<std::string>& tickers,
                    const session_options& opts, stream_sink_ptr sink,
                    const std::string& owner, const std::string& client)
    -> caf::result<std::string, std::vector<std::string>> {
    auto& st = self->state;
    if (st.shutting_down)
      return caf::make_error(ec::shutting_down, "the server is shutting down");
    if (st.sessions.size() >= cfg->max_sessions)
      return caf::make_error(ec::session_limit,
                             "node session limit of "
                               + std::to_string(cfg->max_sessions)
                               + " sessions reached; try again later");
    auto limit = cfg->max_sessions_per_client;
    if (limit > 0 && !client.empty()) {
      auto c = st.per_client.find(client);
      if (c != st.per_client.end() && c->second >= limit) {
        metrics::add(m->client_session_limit_total);
        return caf::make_error(ec::session_limit,
                               "client session limit of "
                                 + std::to_string(limit)
                                 + " sessions reached "
                                   "(--max-sessions-per-client "
                                 + std::to_string(limit)
                                 + "); end one of this client's sessions "
                                   "first");
      }
    }
    auto id = make_session_id();
    auto peer = cfg->log_sessions ? peer_of(sink, client) : std::string{};
    auto s = spawn_session(self->system(), id, tickers, opts, std::move(sink),
                           st.directory, *cfg, *m);
    self->monitor(s);
    if (!owner.empty())
      st.owners.emplace(id, owner);
    if (!client.empty())
      ++st.per_client[client];
    st.ids.emplace(s.address(),
                   session_entry{id, self->clock().now(), tickers.size(),
                                 client, owner, std::move(peer)});
    st.sessions.emplace(std::move(id), s);
    metrics::add(m->sessions, 1);
    metrics::add(m->sessions_created_total);
    // The session replies once all its tickers are subscribed.
    auto rp = self->make_response_promise();
    rp.delegate(s, start_atom::value);
    return caf::delegated<std::string, std::vector<std::string>>{};
  };
  return {
    [=](start_atom, const std::vector<std::string>& tickers,
        const session_options& opts) {
      return create(tickers, opts, nullptr, std::string{}, std::string{});
    },
    [=](start_atom, const std::vector<std::string>& tickers,
        const session_options& opts, const stream_sink_ptr& sink) {
      return create(tickers, opts, sink, std::string{}, std::string{});
    },
    [=](start_atom, const std::vector<std::string>& tickers,
        const session_options& opts, const std::string& owner,
        const std::string& client) {
      return create(tickers, opts, nullptr, owner, client);
    },
    [=](start_atom, const std::vector<std::string>& tickers,
        const session_options& opts, const std::string& owner,
        const std::string& client, const stream_sink_ptr& sink) {
      return create(tickers, opts, sink, owner, client);
    },
    [=](find_atom, const std::string& id) -> caf::result<session_actor> {
      auto& st = self->state;
      auto i = st.sessions.find(id);
      if (i == st.sessions.end())
        return caf::make_error(ec::unknown_session,
                               "no session with id \"" + id
                                 + "\": unknown, expired or ended");
      return i->second;
    },
    [=](find_atom, const std::string& id,
        const std::string& owner) -> caf::result<session_actor> {
      // Another identity's session is answered exactly like an unknown id,
      // so that ids leak nothing.
      auto& st = self->state;
      auto i = st.sessions.find(id);
      auto o = st.owners.find(id);
      auto session_owner = o == st.owners.end() ? std::string{} : o->second;
      if (i == st.sessions.end() || session_owner != owner)
        return caf::make_error(ec::unknown_session,
                               "no session with id \"" + id
                                 + "\": unknown, expired or ended");
      return i->second;
    },
    [=](shutdown_atom) {
      auto& st = self->state;
      st.shutting_down = true;
      for (auto& kvp : st.sessions)
        self->send_exit(kvp.second,
                        caf::make_error(ec::shutting_down,
                                        "the server is shutting down"));
    },
    [=](stats_atom)
      -> caf::result<std::vector<std::string>, std::vector<uint64_t>> {
      // sessions_ended_total by reason, as (reason, count) pairs.
      std::vector<std::string> names;
      std::vector<uint64_t> counts;
      for (auto& kvp : self->state.ended) {
        names.push_back(kvp.first);
        counts.push_back(kvp.second);
      }
      return {std::move(names), std::move(counts)};
    },
    // --- from the inspector ---
    [=](describe_atom) -> caf::result<std::vector<session_info>> {
      auto& st = self->state;
      auto acc = gather<session_info>::start(self, st.sessions.size());
      // A session that ended meanwhile is simply not listed.
      ask_each<session_info>(self, acc, st.sessions, caf::infinite,
                             describe_atom::value);
      return acc->delegated();
    },
  };
}

} // namespace

session_registry_actor spawn_session_registry(caf::actor_system& sys,
                                              ticker_directory_actor directory,
                                              const node_config& cfg,
                                              metrics& m) {
  return sys.spawn(session_registry, std::move(directory), &cfg, &m);
}

} // namespace mm
