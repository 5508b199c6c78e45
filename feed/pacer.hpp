#pragma once

// When to publish the next ticks at a fixed rate. Pure arithmetic over the
// times it is given (monotonic nanoseconds), so it is tested without a
// clock (tests/unit/feed_test.cpp); the callers sleep and publish.

#include <cstdint>
#include <limits>

namespace mm::feed {

/// Paces ticks at `rate` per second: slot k is due at start + k / rate.
/// A caller sleeps until `next_due()`, then publishes `take(now)` ticks.
class pacer {
public:
  struct settings {
    /// Ticks per second (above 0).
    double rate = 100;
    /// At most this many ticks per `take` while catching up.
    uint64_t max_batch = 4096;
    /// At least this many ticks per `take`: at high rates a caller wakes
    /// up less often and pipelines ticks a little ahead of their slot.
    uint64_t min_batch = 1;
    /// Behind by more than this (e.g. a stalled Redis), the backlog is
    /// dropped and pacing starts over at `now`; 0: never.
    int64_t max_lag_ns = 0;
    /// No slot at or after this time is taken (monotonic ns).
    int64_t deadline = std::numeric_limits<int64_t>::max();
  };

  pacer(const settings& cfg, int64_t start);

  /// One wake-up per millisecond at most at high rates: the `min_batch`
  /// for `rate` (from 1 to 256).
  static uint64_t batch_per_millisecond(double rate);

  /// When the next slot is due.
  int64_t next_due() const;

  /// Whether every slot before the deadline is taken.
  bool done() const;

  /// Takes the slots due at `now` (at least `min_batch`, at most
  /// `max_batch`, none at or after the deadline) and returns how many.
  /// Call it at or after `next_due()`.
  uint64_t take(int64_t now);

  /// Starts over at `now`: slots missed meanwhile (e.g. while Redis was
  /// away) are not sent in a burst.
  void restart(int64_t now);

private:
  int64_t slot_time(uint64_t k) const;

  settings cfg_;
  double period_;
  /// Slot k is due at base_ + k * period_; base_ moves on `restart`.
  int64_t base_;
  uint64_t next_ = 0;
};

} // namespace mm::feed
