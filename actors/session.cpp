#include "actors/session.hpp"

#include <map>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/errors.hpp"
#include "actors/flat_map.hpp"
#include "actors/interfaces.hpp"
#include "actors/lazy_deque.hpp"
#include "actors/messages.hpp"
#include "actors/metrics.hpp"
#include "actors/node_config.hpp"

namespace mm {

namespace {

/// A broadcaster that went away between the directory's answer and our
/// subscribe is asked for again this often before the session gives up.
constexpr int max_subscribe_attempts = 5;

struct session_state {
  static inline constexpr const char* name = "session";

  std::string id;
  session_options opts;
  const node_config* cfg = nullptr;
  metrics* m = nullptr;
  ticker_directory_actor directory;

  /// A subscribed ticker.
  struct ticker_sub {
    /// Its broadcaster or relay (null while subscribing).
    ticker_publisher_actor broadcaster;
    /// CONFLATE: its slot in `inbox`.
    uint32_t slot = 0;
  };
  /// Subscribed tickers, in order.
  flat_map<std::string, ticker_sub> tickers;
  /// Subscriptions on their way; start/update replies wait for zero.
  size_t subscribing = 0;
  /// Requests waiting for `subscribing` to reach zero.
  std::vector<std::pair<caf::response_promise, bool>> waiting;
  /// A ticker the directory refused (ec::ticker_limit) while subscribing:
  /// the waiting requests get this error instead of the ticker list.
  caf::error refused;
  /// The refusal of an initial ticker that came before the start request.
  caf::error start_error;
  /// False until the initial subscriptions are done: no batch before that.
  bool ready = false;

  stream_sink_ptr sink;
  bool write_in_flight = false;
  /// The sink writes from `inbox` itself (stream_sink::pump): the session
  /// writes nothing more and hears of failed writes only.
  bool pumping = false;
  /// A flush message or timer is on its way.
  bool flush_scheduled = false;
  /// A fixed-interval flush came due while a write was in flight.
  bool flush_due = false;
  /// max_frequency_hz: the least time between two updates of one ticker
  /// (0: unlimited), and whether a timer for the next due update is armed.
  std::chrono::nanoseconds min_interval{0};
  bool due_timer = false;

  /// CONFLATE: the newest update per ticker, in order of first arrival,
  /// filled by the broadcasters themselves (null in ALL mode).
  session_inbox_ptr inbox;
  /// Reused by every take from the inbox.
  std::vector<session_inbox::entry> taken;
  /// ALL: every update, at most cfg->max_pending.
  lazy_deque<price_update> queue;

  /// Snapshot entries still to send as the first batch(es).
  bool snapshot_pending = false;
  std::vector<price_update> snapshot;

  /// Resume: the positions of initial tickers not yet answered, the
  /// results for the first batch, and the replayed updates, which go out
  /// before any live one.
  std::map<std::string, stream_position> resume;
  std::vector<recovery_result> recovery;
  bool recovery_pending = false;
  lazy_deque<price_update> replay;

  /// The batches the session wrote itself (their batch_seq, and for the
  /// inspector, what they held and when the last went), on the actor clock.
  batch_counts written;
  /// For the inspector: what this session did, and when.
  caf::actor_clock::time_point created;
  caf::actor_clock::time_point last_update;
  bool had_update = false;

  std::vector<std::string> ticker_list() const {
    std::vector<std::string> result;
    result.reserve(tickers.size());
    for (auto& kvp : tickers)
      result.push_back(kvp.first);
    return result;
  }

  bool has_pending() const {
    return snapshot_pending || recovery_pending || !replay.empty()
           || !queue.empty() || (inbox && inbox->size() > 0);
  }
};

/// The session's interface with its own timers.
using session_impl = session_actor::extend<
  // Write what is pending (adaptive flush or the flush interval).
  caf::reacts_to<flush_atom>,
  // max_frequency_hz: an update held back may go now.
  caf::reacts_to<flush_atom, bool>,
  // --attach-timeout-ms passed: quit unless a stream attached.
  caf::reacts_to<attach_timeout_atom>>;

using session_ptr = session_impl::stateful_pointer<session_state>;

void write_next(session_ptr self);

void remove_ticker(session_ptr self, const std::string& t);

void schedule_flush(session_ptr self) {
  auto& st = self->state;
  if (!st.sink || !st.ready || st.write_in_flight || st.flush_scheduled
      || st.pumping || !st.has_pending())
    return;
  st.flush_scheduled = true;
  // Adaptive: a message to ourselves runs after the updates already in the
  // mailbox, so a burst leaves as one batch without waiting for a timer.
  if (st.opts.flush_interval_ms == 0)
    self->send(self, flush_atom::value);
  else
    self->delayed_send(self,
                       std::chrono::milliseconds(st.opts.flush_interval_ms),
                       flush_atom::value);
}

/// Drops queued live updates that the snapshot already covers.
void drop_covered(session_state& st, const price_update& snap) {
  if (st.inbox) {
    auto i = st.tickers.find(snap.ticker);
    if (i != st.tickers.end())
      st.inbox->drop_up_to(i->second.slot, snap.epoch, snap.seq);
  }
  st.queue.remove_if([&](const price_update& u) {
    return u.ticker == snap.ticker && u.epoch == snap.epoch
           && u.seq <= snap.seq;
  });
}

/// Hands the inbox to the sink once only live CONFLATE updates are left to
/// write; true if the sink pumps from now on (and keeps the flush interval).
bool start_pump(session_state& st) {
  if (st.pumping)
    return true;
  // A maximum frequency needs the session's timers: it keeps writing.
  if (!st.inbox || st.snapshot_pending || st.recovery_pending
      || !st.replay.empty() || st.min_interval.count() > 0)
    return false;
  st.pumping = st.sink->pump(st.inbox, st.opts.max_batch, st.written.batch_seq,
                             st.opts.flush_interval_ms);
  return st.pumping;
}

void write_next(session_ptr self) {
  auto& st = self->state;
  if (!st.sink || !st.ready || st.write_in_flight || start_pump(st))
    return;
  price_batch batch;
  size_t limit = st.opts.max_batch;
  uint64_t replaced = 0;
  if (st.snapshot_pending || st.recovery_pending || !st.replay.empty()) {
    // First the recovery results, the snapshot and the replayed updates
    // (other tickers than the snapshot's), then live updates.
    if (st.recovery_pending) {
      batch.recovery = std::move(st.recovery);
      st.recovery.clear();
      st.recovery_pending = false;
    }
    if (st.snapshot_pending) {
      batch.snapshot = true;
      auto n = std::min(limit, st.snapshot.size());
      for (size_t i = 0; i < n; ++i)
        drop_covered(st, st.snapshot[i]);
      batch.updates.assign(std::make_move_iterator(st.snapshot.begin()),
                           std::make_move_iterator(st.snapshot.begin() + n));
      st.snapshot.erase(st.snapshot.begin(), st.snapshot.begin() + n);
      st.snapshot_pending = !st.snapshot.empty();
      if (!st.snapshot_pending)
        std::vector<price_update>{}.swap(st.snapshot); // its storage too
    }
    while (!st.replay.empty() && batch.updates.size() < limit) {
      batch.updates.emplace_back(std::move(st.replay.front()));
      st.replay.pop_front();
    }
    st.replay.release_if_empty();
  } else if (st.inbox && st.inbox->size() > 0) {
    st.taken.clear();
    if (st.min_interval.count() > 0) {
      auto now = self->clock().now();
      auto next = now;
      replaced = st.inbox->take_due(limit, st.taken, now, st.min_interval,
                                    next);
      // What is not due yet stays in the inbox (newest value wins there)
      // and goes when its ticker may send again.
      if (st.inbox->size() > 0 && !st.due_timer) {
        st.due_timer = true;
        self->delayed_send(self, next - now, flush_atom::value, true);
      }
    } else {
      replaced = st.inbox->take(limit, st.taken);
    }
    batch.updates.reserve(st.taken.size());
    for (auto& x : st.taken) {
      auto& u = batch.updates.emplace_back(x.value());
      u.conflated = x.replaced;
      u.gap = x.written_gap();
    }
    st.taken.clear();
    if (batch.updates.empty())
      return;
  } else if (!st.queue.empty()) {
    while (!st.queue.empty() && batch.updates.size() < limit) {
      batch.updates.emplace_back(std::move(st.queue.front()));
      st.queue.pop_front();
    }
  } else {
    return;
  }
  batch.batch_seq = st.written.add_batch(batch.updates.size(), replaced,
                                         self->clock().now());
  st.write_in_flight = true;
  st.m->count_batch(batch.updates, replaced,
                    [](const price_update& x) { return x.ts; });
  st.sink->write(std::move(batch));
}

/// The inbox has updates (a broadcaster's wake-up, or our own put).
void on_wake(session_ptr self) {
  auto& st = self->state;
  st.last_update = self->clock().now();
  st.had_update = true;
  // Adaptive: everything that arrived until now leaves as one batch; what
  // arrives during the write waits in the inbox and conflates there.
  if (st.opts.flush_interval_ms == 0)
    write_next(self);
  else
    schedule_flush(self);
}

void enqueue(session_ptr self, const price_update& u) {
  auto& st = self->state;
  if (st.inbox) {
    // Not from a broadcaster that fills the inbox itself (a relay, a
    // snapshot of an added ticker): in through the same door, and flushed
    // like a message burst, after the updates already in the mailbox.
    auto i = st.tickers.find(u.ticker);
    if (i != st.tickers.end()
        && st.inbox->put(i->second.slot, caf::make_message(u),
                         self->clock().now()))
      schedule_flush(self);
    return;
  } else {
    if (st.queue.size() >= st.cfg->max_pending) {
      self->quit(caf::make_error(
        ec::slow_consumer,
        "consumer too slow: more than " + std::to_string(st.cfg->max_pending)
          + " updates pending in DELIVERY_MODE_ALL; session evicted"));
      return;
    }
    st.queue.push_back(u);
  }
  schedule_flush(self);
}

void subscribing_done(session_ptr self) {
  auto& st = self->state;
  if (--st.subscribing > 0)
    return;
  auto waiting = std::move(st.waiting);
  st.waiting.clear();
  auto refused = std::move(st.refused);
  st.refused = caf::error{};
  for (auto& [promise, is_start] : waiting) {
    if (refused)
      promise.deliver(refused);
    else if (is_start)
      promise.deliver(st.id, st.ticker_list());
    else
      promise.deliver(st.ticker_list());
  }
  if (refused && !st.ready) {
    // A session that cannot have all its initial tickers does not start
    // (its stream, if attached, ends with the same error); an update
    // keeps the tickers it could add. The refusal may come before the
    // registry's start request: that one gets it then.
    if (waiting.empty()) {
      st.start_error = std::move(refused);
      return;
    }
    self->quit(refused);
    return;
  }
  if (!st.ready) {
    st.ready = true;
    if (st.opts.snapshot)
      st.snapshot_pending = true;
    if (!st.recovery.empty())
      st.recovery_pending = true;
  }
  schedule_flush(self);
}

/// Asks `b` to subscribe us for `ticker`; then calls `f` with the reply.
/// A CONFLATE session hands over the ticker's inbox slot (a relay takes it
/// like the plain request and sends each update). With a position to
/// resume from, the request carries it and the reply is a resume_reply.
template <class F, class G, class... Ts>
void request_subscribe(session_ptr self, const ticker_publisher_actor& b,
                       const std::string& ticker, F f, G g,
                       const Ts&... position) {
  auto& st = self->state;
  auto i = st.tickers.find(ticker);
  if (!st.inbox || i == st.tickers.end()) {
    self
      ->request(b, caf::infinite, subscribe_atom::value, subscriber{self},
                position...)
      .then(f, g);
    return;
  }
  self
    ->request(b, caf::infinite, subscribe_atom::value, inbox_sink_actor{self},
              st.inbox, i->second.slot, position...)
    .then(f, g);
}

/// Whether `b`, just subscribed for `ticker`, is the one we keep; if not
/// (removed or subscribed again while on our way) it is left again.
bool keep_subscription(session_ptr self, const std::string& ticker,
                       const ticker_publisher_actor& b) {
  auto& st = self->state;
  auto i = st.tickers.find(ticker);
  if (i == st.tickers.end() || i->second.broadcaster) {
    if (i == st.tickers.end() || i->second.broadcaster != b)
      self->send(b, unsubscribe_atom::value, subscriber{self});
    return false;
  }
  i->second.broadcaster = b;
  return true;
}

void got_last(session_ptr self, const std::vector<price_update>& last) {
  auto& st = self->state;
  if (st.opts.snapshot && !last.empty()) {
    if (!st.ready)
      st.snapshot.push_back(last.front());
    else
      enqueue(self, last.front());
  }
}

/// The reply to a subscription that resumed from a position.
void got_resume(session_ptr self, const std::string& ticker,
                const resume_reply& r) {
  auto& st = self->state;
  st.resume.erase(ticker);
  recovery_result x;
  x.ticker = ticker;
  x.recovered = r.recovered;
  if (!r.recovered) {
    st.recovery.push_back(std::move(x));
    got_last(self, r.updates);
    return;
  }
  x.replayed = static_cast<uint32_t>(r.updates.size());
  st.recovery.push_back(std::move(x));
  if (r.updates.empty())
    return;
  // Live updates that the replay covers (a relay may have sent them before
  // its reply) are not sent twice.
  drop_covered(st, r.updates.back());
  st.replay.append(r.updates.begin(), r.updates.end());
}

void subscribe(session_ptr self, const std::string& ticker,
               const publisher& dead_hint, int attempt) {
  auto& st = self->state;
  self->request(st.directory, caf::infinite, get_atom::value, ticker, dead_hint)
    .then(
      [=](const publisher& b) {
        auto failed = [=](const caf::error& err) {
          if (err == caf::sec::request_receiver_down
              && attempt < max_subscribe_attempts) {
            subscribe(self, ticker, b, attempt + 1);
            return;
          }
          self->quit(err);
        };
        auto& st = self->state;
        if (auto pos = st.resume.find(ticker); pos != st.resume.end()) {
          request_subscribe(
            self, b, ticker,
            [=](const resume_reply& r) {
              if (keep_subscription(self, ticker, b))
                got_resume(self, ticker, r);
              subscribing_done(self);
            },
            failed, pos->second);
          return;
        }
        request_subscribe(
          self, b, ticker,
          [=](const std::vector<price_update>& last) {
            if (keep_subscription(self, ticker, b))
              got_last(self, last);
            subscribing_done(self);
          },
          failed);
      },
      [=](const caf::error& err) {
        if (code_of(err) != ec::ticker_limit) {
          self->quit(err);
          return;
        }
        // Refused (--max-tickers): the ticker is not ours; the requests
        // waiting for it get the error.
        auto& st = self->state;
        if (auto i = st.tickers.find(ticker);
            i != st.tickers.end() && !i->second.broadcaster)
          remove_ticker(self, ticker);
        if (!st.refused)
          st.refused = err;
        subscribing_done(self);
      });
}

void add_tickers(session_ptr self, const std::vector<std::string>& xs) {
  auto& st = self->state;
  if (st.inbox)
    st.inbox->reserve(xs.size());
  st.tickers.reserve(st.tickers.size() + xs.size());
  for (auto& t : xs) {
    if (auto [i, added] = st.tickers.try_emplace(t); added) {
      if (st.inbox)
        i->second.slot = st.inbox->open(t);
      ++st.subscribing;
      subscribe(self, t, publisher{}, 1);
    }
  }
}

void remove_ticker(session_ptr self, const std::string& t) {
  auto& st = self->state;
  auto i = st.tickers.find(t);
  if (i == st.tickers.end())
    return;
  if (i->second.broadcaster)
    self->send(i->second.broadcaster, unsubscribe_atom::value,
               subscriber{self});
  if (st.inbox)
    st.inbox->close(i->second.slot);
  st.tickers.erase(i);
  st.queue.remove_if([&](const price_update& u) { return u.ticker == t; });
  st.snapshot.erase(std::remove_if(st.snapshot.begin(), st.snapshot.end(),
                                   [&](const price_update& u) {
                                     return u.ticker == t;
                                   }),
                    st.snapshot.end());
}

/// Returns false (and quits) if the client has already gone.
bool attach(session_ptr self, const stream_sink_ptr& sink) {
  auto& st = self->state;
  if (!sink->bind(stream_owner_actor{self})) {
    self->quit(caf::make_error(ec::stream_ended,
                               "the client's stream ended before it attached"));
    return false;
  }
  st.sink = sink;
  // docs/architecture.md rule 2: whatever ends the session finishes its stream
  // with the status that fits the exit reason.
  self->attach_functor(
    [sink](const caf::error& reason) { sink->finish(reason); });
  schedule_flush(self);
  return true;
}

int64_t ms_since(session_ptr self, caf::actor_clock::time_point t) {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  return duration_cast<milliseconds>(self->clock().now() - t).count();
}

session_info describe(session_ptr self) {
  auto& st = self->state;
  session_info x;
  x.id = st.id;
  x.tickers = st.ticker_list();
  x.opts = st.opts;
  x.stream_attached = st.sink != nullptr;
  if (st.sink)
    x.peer = st.sink->peer();
  x.write_in_flight = st.write_in_flight;
  x.delivered = st.written.delivered;
  x.conflated = st.written.conflated;
  x.pending = (st.inbox ? st.inbox->size() : 0) + st.queue.size()
              + st.snapshot.size();
  x.batches = st.written.batch_seq;
  x.age_ms = ms_since(self, st.created);
  x.created_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                   st.created.time_since_epoch())
                   .count();
  x.last_update_ms = st.had_update ? ms_since(self, st.last_update) : -1;
  x.last_write_ms =
    st.written.batch_seq > 0 ? ms_since(self, st.written.last_write) : -1;
  if (st.pumping) {
    // Add what the sink wrote on its own; it keeps the steady clock.
    auto since = [](std::chrono::steady_clock::time_point t) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now() - t)
        .count();
    };
    auto p = st.sink->pumped();
    x.write_in_flight = p.write_in_flight;
    x.delivered += p.delivered;
    x.conflated += p.conflated;
    x.batches = p.batch_seq;
    if (auto put = st.inbox->last_put(); put.time_since_epoch().count() != 0)
      x.last_update_ms = since(put);
    if (p.delivered > 0)
      x.last_write_ms = since(p.last_write);
  }
  return x;
}

session_impl::behavior_type session(session_ptr self, std::string id,
                                    const std::vector<std::string>& tickers,
                                    session_options opts,
                                    const stream_sink_ptr& sink,
                                    ticker_directory_actor directory,
                                    const node_config* cfg, metrics* m) {
  // Watches nothing: broadcasters and the registry monitor *us*. Monitoring
  // them back would leave stale attachables on long-lived actors (CAF 0.17,
  // docs/architecture.md rule 7). Ends by quitting with an `ec` reason.
  auto& st = self->state;
  st.id = std::move(id);
  st.created = self->clock().now();
  st.opts = opts;
  st.cfg = cfg;
  st.m = m;
  st.directory = std::move(directory);
  if (opts.mode == delivery_mode::conflate)
    st.inbox = std::make_shared<session_inbox>();
  for (auto& pos : opts.resume_from)
    st.resume.emplace(pos.ticker, pos);
  st.opts.resume_from.clear();
  if (opts.max_frequency_hz > 0)
    st.min_interval = std::chrono::nanoseconds{1'000'000'000}
                      / opts.max_frequency_hz;
  if (sink) {
    if (!attach(self, sink))
      return session_impl::behavior_type::make_empty_behavior();
  } else {
    self->delayed_send(self, std::chrono::milliseconds(cfg->attach_timeout_ms),
                       attach_timeout_atom::value);
  }
  // Counts the initial subscriptions as one until all are on their way.
  st.subscribing = 1;
  add_tickers(self, tickers);
  subscribing_done(self);
  return {
    // --- from the registry and the gRPC layer ---
    [=](start_atom) -> caf::result<std::string, std::vector<std::string>> {
      auto& st = self->state;
      if (st.start_error) {
        auto err = std::move(st.start_error);
        self->quit(err);
        return err;
      }
      if (st.subscribing == 0)
        return {st.id, st.ticker_list()};
      auto rp = self->make_response_promise();
      st.waiting.emplace_back(rp, true);
      return caf::delegated<std::string, std::vector<std::string>>{};
    },
    [=](attach_atom, const stream_sink_ptr& s) -> caf::result<void> {
      if (self->state.sink)
        return caf::make_error(ec::stream_already_attached,
                               "session " + self->state.id
                                 + " already has a stream attached");
      attach(self, s);
      return caf::unit;
    },
    [=](update_atom, const std::vector<std::string>& add,
        const std::vector<std::string>& remove)
      -> caf::result<std::vector<std::string>> {
      auto& st = self->state;
      auto count = st.tickers.size();
      for (auto& t : add)
        if (st.tickers.count(t) == 0
            && std::find(remove.begin(), remove.end(), t) == remove.end())
          ++count;
      for (auto& t : remove)
        if (st.tickers.count(t) > 0)
          --count;
      if (count > st.cfg->max_tickers_per_session)
        return caf::make_error(ec::too_many_tickers,
                               "the session would have " + std::to_string(count)
                                 + " tickers; the limit is "
                                 + std::to_string(
                                   st.cfg->max_tickers_per_session));
      if (count == 0)
        return caf::make_error(ec::no_tickers,
                               "a session must keep at least one ticker");
      for (auto& t : remove)
        remove_ticker(self, t);
      ++st.subscribing;
      add_tickers(self, add);
      auto rp = self->make_response_promise();
      st.waiting.emplace_back(rp, false);
      subscribing_done(self);
      return caf::delegated<std::vector<std::string>>{};
    },
    [=](stop_atom) -> caf::result<void> {
      self->quit(caf::make_error(ec::stopped, "stopped by the client"));
      return caf::unit;
    },
    [=](kill_atom, const std::string& reason) {
      self->quit(caf::make_error(
        ec::killed, reason.empty() ? "ended by an operator" : reason));
    },
    // --- from broadcasters ---
    [=](const price_update& u) {
      auto& st = self->state;
      if (st.tickers.count(u.ticker) > 0) {
        st.last_update = self->clock().now();
        st.had_update = true;
        enqueue(self, u);
      }
    },
    [=](wake_atom) { on_wake(self); },
    // --- from the stream sink ---
    [=](write_done_atom, bool ok) {
      auto& st = self->state;
      st.write_in_flight = false;
      if (!ok) {
        self->quit(caf::make_error(ec::stream_ended,
                                   "writing to the client's stream failed"));
        return;
      }
      if (st.flush_due || st.opts.flush_interval_ms == 0) {
        st.flush_due = false;
        write_next(self);
      } else {
        schedule_flush(self);
      }
    },
    [=](stream_end_atom) {
      self->quit(
        caf::make_error(ec::stream_ended, "the client's stream ended"));
    },
    // --- from the inspector ---
    [=](describe_atom) { return describe(self); },
    // --- own timers ---
    [=](flush_atom) {
      auto& st = self->state;
      st.flush_scheduled = false;
      if (st.write_in_flight)
        st.flush_due = true;
      else
        write_next(self);
    },
    [=](flush_atom, bool) {
      // max_frequency_hz: an update held back may go now.
      auto& st = self->state;
      st.due_timer = false;
      if (st.write_in_flight)
        st.flush_due = true;
      else
        write_next(self);
    },
    [=](attach_timeout_atom) {
      auto& st = self->state;
      if (!st.sink)
        self->quit(caf::make_error(ec::attach_timeout,
                                   "session expired: no stream attached within "
                                     + std::to_string(st.cfg->attach_timeout_ms)
                                     + " ms"));
    },
  };
}

} // namespace

session_actor spawn_session(caf::actor_system& sys, std::string id,
                            std::vector<std::string> tickers,
                            session_options opts, stream_sink_ptr sink,
                            ticker_directory_actor directory,
                            const node_config& cfg, metrics& m) {
  return sys.spawn(session, std::move(id), std::move(tickers), opts,
                   std::move(sink), std::move(directory), &cfg, &m);
}

} // namespace mm
