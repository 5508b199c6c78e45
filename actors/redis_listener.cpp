#include "actors/redis_listener.hpp"
#include "actors/errors.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/receive_policy.hpp>
#include <caf/io/system_messages.hpp>
#include <caf/io/typed_broker.hpp>

#include <hiredis/hiredis.h>

#include "actors/interfaces.hpp"
#include "actors/messages.hpp"
#include "actors/metrics.hpp"
#include "actors/node_config.hpp"
#include "actors/resp_feed.hpp"
#include "actors/tcp_connect.hpp"
#include "actors/tick_parser.hpp"
#include "logging/log.hpp"

namespace mm {

namespace {

using namespace std::chrono_literals;

constexpr caf::timespan min_backoff = 100ms;
constexpr caf::timespan max_backoff = 5s;

/// Bytes per read from the socket.
constexpr uint32_t max_read = 64 * 1024;

/// Channels per SUBSCRIBE when re-subscribing after a reconnect: one command
/// for the lot, but bounded so that no single write grows without limit.
constexpr size_t max_channels_per_command = 1024;

/// Lets at most one line per second through, so that a flood of bad input
/// cannot flood stderr; the next line that passes says how many were held.
class log_limiter {
public:
  /// Returns true if a line may be written now; counts it as held otherwise.
  bool admit() {
    auto now = std::chrono::steady_clock::now();
    if (any_ && now - last_ < 1s) {
      ++held_;
      return false;
    }
    any_ = true;
    last_ = now;
    return true;
  }

  /// Returns and resets the number of lines held since the last admitted one.
  uint64_t take_held() {
    auto result = held_;
    held_ = 0;
    return result;
  }

private:
  bool any_ = false;
  std::chrono::steady_clock::time_point last_;
  uint64_t held_ = 0;
};

void log_line(const std::string& line, log::level lvl = log::level::info) {
  log::write(lvl, "redis_listener", line);
}

struct redis_listener_state {
  static inline constexpr const char* name = "redis_listener";

  const node_config* cfg = nullptr;
  metrics* stats = nullptr;

  /// Channel (`<prefix><TICKER>`) -> the broadcaster that gets its ticks.
  std::unordered_map<std::string, ticker_broadcaster_actor> routes;

  /// The one subscriber connection; valid while `connected`.
  caf::io::connection_handle conn;
  bool connected = false;
  /// Decodes what the connection delivers; reset per connection.
  resp_feed replies;
  /// Counts connections, so that a liveness timer of an earlier one ends.
  uint64_t conn_gen = 0;
  /// Whether anything came from Redis since the last liveness check.
  bool heard = false;
  /// Whether a PING went out at the last check and nothing came since.
  bool ping_pending = false;
  /// AUTH went out on this connection and its reply has not come yet.
  bool auth_pending = false;

  /// The connection attempt under way (cfg->redis_connect_timeout_ms > 0),
  /// its number and its deadline.
  tcp_connect connector;
  uint64_t attempt = 0;
  std::chrono::steady_clock::time_point connect_deadline;

  /// True while a `connect_atom` to ourselves is on its way.
  bool retry_pending = false;
  caf::timespan backoff = min_backoff;
  /// True once a failure of the current streak has been logged.
  bool failure_logged = false;
  std::minstd_rand rng{std::random_device{}()};

  tick_parser parser;
  /// Reused for channel lookups: no allocation per tick.
  std::string channel_buf;
  log_limiter malformed_log;
  log_limiter reply_log;
};

/// The listener's interface with its own timers and its connection.
using listener_impl = redis_listener_actor::extend<
  // The backoff timer: connect again.
  caf::reacts_to<connect_atom>,
  // Look at connection attempt `n` again.
  caf::reacts_to<connect_atom, uint64_t>,
  // The liveness timer of connection `gen`.
  caf::reacts_to<ping_atom, uint64_t>,
  // From the connection: bytes.
  caf::reacts_to<caf::io::new_data_msg>,
  // From the connection: closed.
  caf::reacts_to<caf::io::connection_closed_msg>>;

using listener_actor =
  listener_impl::stateful_broker_pointer<redis_listener_state>;

std::string endpoint(const redis_listener_state& st) {
  return st.cfg->redis_host + ':' + std::to_string(st.cfg->redis_port);
}

int64_t unix_now_ns() {
  using namespace std::chrono;
  return duration_cast<nanoseconds>(system_clock::now().time_since_epoch())
    .count();
}

// --- commands ----------------------------------------------------------------

/// Writes `verb channel...` as one RESP command (binary safe).
template <class Iterator>
void write_command(listener_actor self, const char* verb, Iterator first,
                   Iterator last) {
  auto& st = self->state;
  std::vector<const char*> argv{verb};
  std::vector<size_t> lens{std::char_traits<char>::length(verb)};
  for (auto i = first; i != last; ++i) {
    argv.emplace_back(i->data());
    lens.emplace_back(i->size());
  }
  char* cmd = nullptr;
  auto len = redisFormatCommandArgv(&cmd, static_cast<int>(argv.size()),
                                    argv.data(), lens.data());
  if (len < 0) {
    log_line(std::string{"cannot format "} + verb + ": out of memory",
             log::level::error);
    return;
  }
  self->write(st.conn, static_cast<size_t>(len), cmd);
  redisFreeCommand(cmd);
  self->flush(st.conn);
}

void write_command(listener_actor self, const char* verb,
                   const std::string& channel) {
  write_command(self, verb, &channel, &channel + 1);
}

void subscribe_all(listener_actor self) {
  auto& st = self->state;
  std::vector<std::string> channels;
  channels.reserve(st.routes.size());
  for (auto& kvp : st.routes)
    channels.emplace_back(kvp.first);
  for (size_t pos = 0; pos < channels.size(); pos += max_channels_per_command) {
    auto n = std::min(max_channels_per_command, channels.size() - pos);
    write_command(self, "SUBSCRIBE", channels.begin() + pos,
                  channels.begin() + pos + n);
  }
}

/// Tells every broadcaster whether the connection is up: the first tick
/// after a loss is marked as one after a gap.
void tell_upstream(listener_actor self, bool connected) {
  auto& st = self->state;
  for (auto& kvp : st.routes)
    self->send(kvp.second, upstream_atom::value, connected);
}

// --- connection lifecycle ----------------------------------------------------

void schedule_reconnect(listener_actor self) {
  auto& st = self->state;
  if (st.retry_pending)
    return;
  st.retry_pending = true;
  // Half fixed, half random: nodes that lost the same Redis do not come back
  // in lockstep.
  auto half = st.backoff / 2;
  std::uniform_int_distribution<caf::timespan::rep> jitter{0, half.count()};
  auto delay = half + caf::timespan{jitter(st.rng)};
  st.backoff = std::min(st.backoff * 2, max_backoff);
  self->delayed_send(self, delay, connect_atom::value);
}

void log_failure(redis_listener_state& st, const std::string& what) {
  if (st.failure_logged)
    return;
  st.failure_logged = true;
  log_line(what + "; retrying in the background (ticks stop until then)",
           log::level::warn);
}

/// Forgets the connection (already closed or never opened) and retries.
void lost_connection(listener_actor self, const std::string& why) {
  auto& st = self->state;
  st.connected = false;
  st.replies.reset();
  st.stats->set_redis_connected(false);
  st.stats->redis_subscriptions = 0;
  tell_upstream(self, false);
  log_failure(st, "lost connection to Redis at " + endpoint(st) + ": " + why);
  schedule_reconnect(self);
}

/// Checks the connection every --redis-ping-ms while it is up: silent for a
/// whole interval, it gets a PING; silent for the next one too, it is dead.
void arm_liveness(listener_actor self) {
  auto& st = self->state;
  if (st.cfg->redis_ping_ms == 0)
    return;
  self->delayed_send(self, std::chrono::milliseconds{st.cfg->redis_ping_ms},
                     ping_atom::value, st.conn_gen);
}

void check_liveness(listener_actor self) {
  auto& st = self->state;
  if (st.heard) {
    st.heard = false;
    st.ping_pending = false;
  } else if (st.ping_pending) {
    // No FIN, no RST, no answer: the peer or the path to it is gone. TCP
    // would keep retransmitting for many minutes before telling us.
    self->close(st.conn);
    lost_connection(self, "no reply to PING within "
                            + std::to_string(st.cfg->redis_ping_ms) + " ms");
    return;
  } else {
    static const std::string verb = "PING";
    write_command(self, verb.c_str(), &verb, &verb);
    st.ping_pending = true;
  }
  arm_liveness(self);
}

void connect_failed(listener_actor self, const std::string& why) {
  auto& st = self->state;
  st.stats->set_redis_connected(false);
  log_failure(st, "cannot connect to Redis at " + endpoint(st) + ": " + why);
  schedule_reconnect(self);
}

void on_connected(listener_actor self, caf::io::connection_handle hdl);
void ready(listener_actor self);

/// Looks whether the attempt under way has completed; if not, looks again
/// in 10 ms, until its deadline.
void poll_connect(listener_actor self) {
  auto& st = self->state;
  switch (st.connector.poll()) {
    case tcp_connect::state::connected:
      on_connected(self, self->add_scribe(st.connector.take()));
      return;
    case tcp_connect::state::idle:
      connect_failed(self, st.connector.error());
      return;
    case tcp_connect::state::pending: break;
  }
  if (std::chrono::steady_clock::now() >= st.connect_deadline) {
    st.connector.reset();
    connect_failed(self, "no answer within "
                           + std::to_string(st.cfg->redis_connect_timeout_ms)
                           + " ms");
    return;
  }
  self->delayed_send(self, 10ms, connect_atom::value, st.attempt);
}

void try_connect(listener_actor self) {
  auto& st = self->state;
  if (st.cfg->redis_connect_timeout_ms == 0) {
    // CAF's connect: blocks this thread until the handshake ends.
    auto hdl = self->add_tcp_scribe(st.cfg->redis_host, st.cfg->redis_port);
    if (hdl)
      on_connected(self, *hdl);
    else
      connect_failed(self, self->system().render(hdl.error()));
    return;
  }
  if (!st.connector.start(st.cfg->redis_host, st.cfg->redis_port)) {
    connect_failed(self, st.connector.error());
    return;
  }
  ++st.attempt;
  st.connect_deadline =
    std::chrono::steady_clock::now()
    + std::chrono::milliseconds{st.cfg->redis_connect_timeout_ms};
  poll_connect(self);
}

void on_connected(listener_actor self, caf::io::connection_handle hdl) {
  auto& st = self->state;
  st.conn = hdl;
  st.connected = true;
  st.replies.reset();
  ++st.conn_gen;
  st.heard = false;
  st.ping_pending = false;
  st.auth_pending = false;
  arm_liveness(self);
  if (st.conn_gen > 1)
    metrics::add(st.stats->redis_reconnects_total);
  self->configure_read(st.conn, caf::io::receive_policy::at_most(max_read));
  if (!st.cfg->redis_password.empty()) {
    // AUTH first, on every connection; the rest once Redis took it.
    std::vector<std::string> args;
    if (!st.cfg->redis_user.empty())
      args.push_back(st.cfg->redis_user);
    args.push_back(st.cfg->redis_password);
    write_command(self, "AUTH", args.begin(), args.end());
    st.auth_pending = true;
    return;
  }
  ready(self);
}

void ready(listener_actor self) {
  auto& st = self->state;
  if (st.failure_logged) {
    st.failure_logged = false;
    log_line("connected to Redis at " + endpoint(st));
  }
  st.stats->redis_auth_refused = false;
  st.stats->set_redis_connected(true);
  subscribe_all(self);
  tell_upstream(self, true);
}

/// Redis answered our AUTH with `error` (WRONGPASS, NOAUTH, ...): says so
/// once per failure streak, in the log and in health, and tries again
/// with backoff (the credentials may be fixed in Redis meanwhile).
void auth_refused(listener_actor self, const std::string& error) {
  auto& st = self->state;
  st.auth_pending = false;
  st.stats->redis_auth_refused = true;
  if (!st.failure_logged) {
    log::error("redis_listener",
               "Redis at " + endpoint(st) + " refused our credentials"
                 + (st.cfg->redis_user.empty()
                      ? std::string{}
                      : " for user " + st.cfg->redis_user)
                 + ": " + error
                 + " (check --redis-user and --redis-password-file); "
                   "retrying in the background");
    st.failure_logged = true;
  }
  self->close(st.conn);
  lost_connection(self, "AUTH refused");
}

/// The stream is beyond repair: drop it and start over.
void protocol_error(listener_actor self, const std::string& why) {
  auto& st = self->state;
  log_line("RESP protocol error from " + endpoint(st) + ": " + why
             + "; reconnecting",
           log::level::warn);
  // Closing from our side produces no connection_closed_msg.
  self->close(st.conn);
  // Logged just now; the reconnect then says when Redis is back.
  st.failure_logged = true;
  lost_connection(self, "protocol error");
}

// --- replies -----------------------------------------------------------------

void on_message(listener_actor self, std::string_view channel,
                std::string_view payload) {
  auto& st = self->state;
  st.channel_buf.assign(channel.data(), channel.size());
  auto i = st.routes.find(st.channel_buf);
  if (i == st.routes.end())
    return; // Unsubscribed meanwhile: nobody wants it any more.
  auto ticker =
    channel.substr(std::min(channel.size(), st.cfg->redis_prefix.size()));
  auto t = st.parser.parse(payload, ticker, unix_now_ns());
  if (!t) {
    metrics::add(st.stats->ticks_malformed_total);
    if (st.malformed_log.admit()) {
      auto line = "malformed tick on " + st.channel_buf + ": "
                  + text_of(t.error());
      if (auto held = st.malformed_log.take_held(); held > 0)
        line += " (" + std::to_string(held) + " more not shown)";
      log::warn("redis_listener", line, {{"ticker", std::string{ticker}}});
    }
    return;
  }
  metrics::add(st.stats->ticks_received_total);
  self->send(i->second, *t);
}

void unexpected_reply(listener_actor self, const std::string& what) {
  auto& st = self->state;
  if (!st.reply_log.admit())
    return;
  auto line = what;
  if (auto held = st.reply_log.take_held(); held > 0)
    line += " (" + std::to_string(held) + " more not shown)";
  log_line(line, log::level::warn);
}

void on_event(listener_actor self, const pubsub_event& x) {
  auto& st = self->state;
  using kind = pubsub_event::kind;
  if (st.auth_pending) {
    // The first reply on the connection answers AUTH: +OK or an error.
    if (x.type == kind::error) {
      auth_refused(self, std::string{x.text});
      return;
    }
    st.auth_pending = false;
    ready(self);
    return;
  }
  switch (x.type) {
    case kind::message: on_message(self, x.channel, x.payload); break;
    case kind::subscribe:
    case kind::unsubscribe:
      if (x.count >= 0)
        st.stats->redis_subscriptions = x.count;
      // Redis answers: this connection works, so start over from the
      // shortest backoff next time it drops.
      st.backoff = min_backoff;
      break;
    case kind::error:
      unexpected_reply(self, "Redis error: " + std::string{x.text});
      break;
    case kind::unexpected:
      unexpected_reply(self, std::string{x.text} + " from Redis");
      break;
    case kind::pong: // on_data has already counted it as a sign of life
    case kind::ignored: break;
  }
}

void on_data(listener_actor self, const std::vector<char>& buf) {
  auto& st = self->state;
  st.heard = true;
  if (!st.replies.feed(buf.data(), buf.size())) {
    protocol_error(self, st.replies.error());
    return;
  }
  pubsub_event event;
  for (;;) {
    switch (st.replies.next(event)) {
      case resp_feed::status::event: on_event(self, event); break;
      case resp_feed::status::need_more:
        return; // The rest of the frame comes later.
      case resp_feed::status::protocol_error:
        protocol_error(self, st.replies.error());
        return;
    }
  }
}

// --- the actor ---------------------------------------------------------------

listener_impl::behavior_type
redis_listener(listener_actor self, const node_config* cfg, metrics* stats) {
  auto& st = self->state;
  st.cfg = cfg;
  st.stats = stats;
  st.stats->set_redis_connected(false);
  st.stats->redis_subscriptions = 0;
  // Broadcasters end on their own (linger); their channels end with them.
  self->set_down_handler([=](const caf::down_msg& msg) {
    auto& st = self->state;
    std::vector<std::string> gone;
    for (auto i = st.routes.begin(); i != st.routes.end();) {
      if (i->second.address() == msg.source) {
        gone.emplace_back(i->first);
        i = st.routes.erase(i);
      } else {
        ++i;
      }
    }
    if (st.connected && !gone.empty())
      write_command(self, "UNSUBSCRIBE", gone.begin(), gone.end());
  });
  try_connect(self);
  return {
    // --- from the ticker directory ---
    [=](watch_atom, const std::string& ticker,
        const ticker_broadcaster_actor& broadcaster) {
      auto& st = self->state;
      if (!broadcaster)
        return;
      auto channel = st.cfg->redis_prefix + ticker;
      auto i = st.routes.find(channel);
      if (i != st.routes.end()) {
        if (i->second == broadcaster)
          return;
        // A fresh broadcaster took over the ticker; the channel stays
        // subscribed and the old one's down_msg will find nothing to erase.
        auto old = std::move(i->second);
        i->second = broadcaster;
        self->monitor(broadcaster);
        self->send(broadcaster, upstream_atom::value, st.connected);
        auto still_used =
          std::any_of(st.routes.begin(), st.routes.end(),
                      [&](const auto& kvp) { return kvp.second == old; });
        if (!still_used)
          self->demonitor(old.address());
        return;
      }
      st.routes.emplace(channel, broadcaster);
      self->monitor(broadcaster);
      self->send(broadcaster, upstream_atom::value, st.connected);
      if (st.connected)
        write_command(self, "SUBSCRIBE", channel);
    },
    // --- from ourselves: the backoff timer ---
    [=](connect_atom) {
      auto& st = self->state;
      st.retry_pending = false;
      if (!st.connected)
        try_connect(self);
    },
    // --- from ourselves: look at connection attempt `n` again ---
    [=](connect_atom, uint64_t n) {
      auto& st = self->state;
      if (!st.connected && n == st.attempt)
        poll_connect(self);
    },
    // --- from ourselves: the liveness timer of connection `gen` ---
    [=](ping_atom, uint64_t gen) {
      auto& st = self->state;
      if (st.connected && gen == st.conn_gen)
        check_liveness(self);
    },
    // --- from the connection ---
    [=](const caf::io::new_data_msg& msg) {
      auto& st = self->state;
      if (st.connected && msg.handle == st.conn)
        on_data(self, msg.buf);
    },
    [=](const caf::io::connection_closed_msg& msg) {
      auto& st = self->state;
      if (st.connected && msg.handle == st.conn)
        lost_connection(self, "connection closed");
    },
  };
}

} // namespace

redis_listener_actor spawn_redis_listener(caf::actor_system& sys,
                                          const node_config& cfg, metrics& m) {
  return sys.middleman().spawn_broker(redis_listener, &cfg, &m);
}

} // namespace mm
