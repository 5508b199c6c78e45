#pragma once

// When a publisher of one ticker (a ticker_broadcaster, or a relay on an
// edge) got its ticks, and its last update, for `last`, `health` and
// `describe`: one copy of that logic for both.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "actors/inspection.hpp"
#include "actors/price_update.hpp"

namespace mm {

/// The last update of a publisher from `last`, the message (one
/// price_update) every subscriber got: empty if there was none yet.
std::vector<price_update> last_of(const caf::message& last);

/// When a publisher's ticks came: the time of the last one, and ticks per
/// second of the last `rate_window` seconds as a ring indexed by the second
/// (of the actor clock) modulo its size.
class tick_rate {
public:
  using time_point = std::chrono::steady_clock::time_point;

  static constexpr size_t rate_window = 10;

  /// Counts one tick at `now`.
  void count(time_point now);

  /// The time of the last tick counted.
  time_point last_tick_at() const {
    return last_tick_at_;
  }

  /// Ticks per second of the last `rate_window` seconds up to `now`, oldest
  /// second first (the last entry is the current, partial second).
  std::vector<uint32_t> per_second(time_point now) const;

  /// Sets what `x` shows of the publisher's updates: `last` (the message
  /// every subscriber got, empty if none), the age of the last update and
  /// the ticks per second.
  void describe(ticker_info& x, const caf::message& last, time_point now) const;

  /// The health of the publisher's feed for `ticker`, with `last` as in
  /// `describe`.
  ticker_health health(std::string ticker, const caf::message& last,
                       time_point now, bool upstream_connected) const;

private:
  std::array<uint32_t, rate_window> per_second_{};
  std::array<int64_t, rate_window> second_of_{};
  time_point last_tick_at_;
};

/// What `describe` of a publisher with `subscribers` subscribers shows of
/// its own state: `Self` is a stateful actor whose state has `ticker`,
/// `seq`, `epoch`, `history` (a pointer to an update_history), `last` and
/// `rate`, as the ticker_broadcaster's and the relay's have.
template <class Self>
ticker_info describe_publisher(Self* self, bool upstream_connected,
                               size_t subscribers) {
  auto& st = self->state;
  ticker_info x;
  x.ticker = st.ticker;
  x.subscribers = subscribers;
  x.seq = st.seq;
  x.epoch = st.epoch;
  x.upstream_connected = upstream_connected;
  x.history = st.history->size();
  st.rate.describe(x, st.last, self->clock().now());
  return x;
}

} // namespace mm
