#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/message.hpp>

#include "actors/price_update.hpp"

namespace mm {

/// Drains a session_inbox straight into the session's stream (the gRPC
/// bridge), so that steady-state delivery needs no message to the session
/// actor: see `session_inbox::set_pump`.
class inbox_pump {
public:
  virtual ~inbox_pump() = default;

  /// The inbox got its first pending update since it was last emptied:
  /// write it unless a write is in flight (whose completion takes it).
  /// Called by whoever put it, outside the inbox's lock.
  virtual void kick() = 0;
};

/// The conflating mailbox of one DELIVERY_MODE_CONFLATE session, shared with
/// the local broadcasters it subscribes to (it never crosses nodes).
///
/// Why: with one CAF message per tick and subscriber, a session that cannot
/// keep up lets its mailbox grow with every tick, and conflation happens only
/// after a message is dequeued, seconds too late. Here a broadcaster puts a
/// tick into the slot of its ticker, replacing (and counting) an update the
/// session has not taken yet, and wakes the session with a message only when
/// the session is not already bound to look: a session's mailbox holds at
/// most one wake-up, and its pending updates at most one per ticker.
///
/// Slots are numbered by the session, one per subscribed ticker; a slot
/// knows its ticker (by a 64-bit hash of it, not a copy of the string), so
/// a late put of a ticker that was removed (or whose slot now serves
/// another ticker) is ignored. All members lock; the lock
/// is held for a few instructions by a broadcaster or the session.
class session_inbox {
public:
  /// One pending update as the session takes it.
  struct entry {
    /// A message holding one price_update, shared with every subscriber.
    caf::message update;
    /// Older updates of the same ticker it replaced while pending.
    uint32_t replaced = 0;
    /// One of the updates it replaced had `gap` set: the writer sets it on
    /// this one, so that conflation never hides a gap.
    bool gap = false;

    /// The update. It is written with `conflated` = `replaced` and with
    /// `gap` = written_gap(): the session's batches and the stream bridge's
    /// pump both write entries so.
    const price_update& value() const {
      return update.get_as<price_update>(0);
    }

    /// Whether the written update has `gap`: it or one it replaced followed
    /// lost ticks.
    bool written_gap() const {
      return gap || value().gap;
    }
  };

  /// Opens a slot for `ticker` and returns its number.
  uint32_t open(const std::string& ticker);

  /// Makes room for `more` further opens, so that a session opening its
  /// tickers in one go allocates once (docs/benchmarks.md, "Memory per
  /// session").
  void reserve(size_t more);

  /// Closes slot `n`: drops its pending update; later puts to it are
  /// ignored.
  void close(uint32_t n);

  /// Stores `update` (a message holding one price_update of slot `n`'s
  /// ticker) as the slot's pending update, replacing an older one. Returns
  /// true if the caller must wake the session: it was not bound to look and
  /// no pump is installed (with a pump, `put` kicks the pump itself). `now`
  /// is the caller's clock reading, kept for `last_put` (a broadcaster reads
  /// its clock once per tick, not once per subscriber).
  bool put(uint32_t n, const caf::message& update,
           std::chrono::steady_clock::time_point now);

  /// From now on wakes go to `pump` instead of the session (held weakly: a
  /// pump that is gone wakes the session again). The pump must drain what
  /// is pending when it is installed.
  void set_pump(std::weak_ptr<inbox_pump> pump);

  /// When the last update was put, by the putter's clock (the epoch if none
  /// was).
  std::chrono::steady_clock::time_point last_put() const;

  /// Appends at most `limit` pending updates to `out`, oldest first (by
  /// first arrival since the last take), and removes them. Once the inbox is
  /// empty after a take, the next put wakes the session again. Returns the
  /// sum of their `replaced` counts.
  uint64_t take(size_t limit, std::vector<entry>& out);

  /// Like `take`, for a session with a maximum frequency: takes only the
  /// updates of slots last taken at least `interval` before `now` (oldest
  /// first) and leaves the others pending, where newer updates keep
  /// replacing them without waking the session: it must look again by
  /// itself at `next_due`, set to the earliest time one of them may go
  /// (unchanged if none is left). A put to a slot that is due wakes it as
  /// usual.
  uint64_t take_due(size_t limit, std::vector<entry>& out,
                    std::chrono::steady_clock::time_point now,
                    std::chrono::nanoseconds interval,
                    std::chrono::steady_clock::time_point& next_due);

  /// Drops the pending update of slot `n` if it is of `epoch` and its seq is
  /// at most `seq` (a snapshot or a replay already covers it).
  void drop_up_to(uint32_t n, uint64_t epoch, uint64_t seq);

  /// The number of pending updates.
  size_t size() const;

private:
  /// Takes slot `n` off the pending list (locked by the caller).
  void unlist(uint32_t n);

  struct slot {
    /// std::hash of the slot's ticker.
    size_t ticker = 0;
    caf::message update;
    uint32_t replaced = 0;
    bool gap = false;
    bool open = false;
    /// take_due: the slot's next update may not go before this.
    std::chrono::steady_clock::time_point due;
  };

  mutable std::mutex mtx_;
  std::vector<slot> slots_;
  /// Closed slot numbers, reused by `open`.
  std::vector<uint32_t> free_;
  /// Slots with a pending update, in order of arrival.
  std::vector<uint32_t> order_;
  /// The session (or pump) has been woken, or will look anyway, and has not
  /// yet emptied the inbox: puts do not wake it again.
  bool armed_ = false;
  /// take_due left updates that are not due yet: the session has a timer
  /// for them.
  bool held_ = false;
  std::weak_ptr<inbox_pump> pump_;
  std::chrono::steady_clock::time_point last_put_;
};

using session_inbox_ptr = std::shared_ptr<session_inbox>;

} // namespace mm
