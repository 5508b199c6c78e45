#pragma once

#include <chrono>
#include <cstdint>
#include <deque>

#include <caf/message.hpp>

#include "actors/messages.hpp"
#include "actors/price_update.hpp"

namespace mm {

struct metrics;

/// The recent updates of one ticker, kept by its broadcaster (or an edge's
/// relay) so that a session that resumes from a position gets what it
/// missed: at most `size` updates, none older than `ttl`, each the shared
/// message all subscribers got (no copy). It always holds one contiguous
/// run of `seq` in one epoch: an update that does not follow the newest one
/// starts it over. Counted in `metrics::history_entries` and
/// `history_bytes` while it lives.
class update_history {
public:
  using time_point = std::chrono::steady_clock::time_point;

  /// Memory of one entry as counted in `history_bytes`: the deque slot, the
  /// message with its price_update and the ticker's characters (an
  /// estimate; the payload is shared with the subscribers' mailboxes).
  static int64_t entry_bytes(const price_update& x);

  update_history(uint32_t size, std::chrono::milliseconds ttl, metrics* m);

  update_history(const update_history&) = delete;
  update_history& operator=(const update_history&) = delete;

  ~update_history();

  /// Appends `update` (a message holding one price_update) received `now`.
  void add(const caf::message& update, time_point now);

  /// Drops the entries older than the ttl at `now`.
  void prune(time_point now);

  /// When the oldest entry expires (only if not empty).
  time_point next_expiry() const;

  bool empty() const {
    return entries_.empty();
  }

  size_t size() const {
    return entries_.size();
  }

  /// The answer to a subscriber resuming after `pos`, given `last` (the
  /// newest update, maybe empty): recovered with the updates after
  /// `pos.seq` if the history holds every one of them, otherwise not
  /// recovered with `last`.
  resume_reply resume(const stream_position& pos,
                      const caf::message& last) const;

private:
  struct entry {
    caf::message update;
    time_point at;
    int64_t bytes;
  };

  void pop_front();

  uint32_t size_;
  std::chrono::milliseconds ttl_;
  metrics* m_;
  std::deque<entry> entries_;
};

/// Sends `self` a (prune_atom) when its oldest history entry expires, unless
/// one is on its way or the history is empty: a ticker that goes quiet keeps
/// nothing beyond the ttl. `Self` is a stateful actor whose state has
/// `history` (a pointer to an update_history) and `bool prune_armed`; its
/// prune handler is `prune_history`.
template <class Self>
void arm_history_prune(Self* self) {
  auto& st = self->state;
  if (st.prune_armed || st.history->empty())
    return;
  st.prune_armed = true;
  auto now = self->clock().now();
  auto due = st.history->next_expiry();
  self->delayed_send(self, due > now ? due - now : caf::timespan{0},
                     prune_atom::value);
}

/// The (prune_atom) handler of such an actor: drops what expired and arms
/// the next prune.
template <class Self>
void prune_history(Self* self) {
  auto& st = self->state;
  st.prune_armed = false;
  st.history->prune(self->clock().now());
  arm_history_prune(self);
}

} // namespace mm
