#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

namespace mm {

/// One accepted tick as parsed from the feed, before a broadcaster stamps it.
struct tick {
  double price = 0;
  int64_t volume = 0;
  /// Unix nanoseconds: the feed's `ts`, or the receive time when absent.
  int64_t ts = 0;
};

/// One tick of one ticker as delivered to sessions (the PriceUpdate of the
/// API). A broadcaster builds it once per tick and all its subscribers share
/// the same message.
struct price_update {
  std::string ticker;
  double price = 0;
  int64_t volume = 0;
  int64_t ts = 0;
  /// Per-ticker sequence number, +1 per accepted tick.
  uint64_t seq = 0;
  /// How many older ticks of this ticker this update replaced for a session;
  /// always 0 as sent by a broadcaster.
  uint32_t conflated = 0;
  /// The sequence epoch of the broadcaster that stamped `seq` (make_epoch):
  /// `seq` is comparable only within one epoch.
  uint64_t epoch = 0;
  /// Ticks of this ticker may have been lost just before this one (Redis
  /// reconnected, the upstream hub changed).
  bool gap = false;
};

/// Where a client stood in one ticker's stream (StreamPosition of the API).
struct stream_position {
  std::string ticker;
  uint64_t epoch = 0;
  uint64_t seq = 0;
};

/// Per ticker of a resumed session: how the resume went (RecoveryResult).
struct recovery_result {
  std::string ticker;
  /// Every update after the position was replayed in order.
  bool recovered = false;
  uint32_t replayed = 0;
};

/// A publisher's answer to a subscription that resumes from a position:
/// with `recovered`, `updates` are the missed ones in order (maybe none);
/// otherwise `updates` holds the last update, if any.
struct resume_reply {
  bool recovered = false;
  std::vector<price_update> updates;
};

/// Returns a new sequence epoch, unique across broadcasters, relays and
/// process restarts: unix milliseconds in the high 44 bits (until the year
/// 2527), a per-process counter that starts at a random value in the low 20.
/// Two epochs collide only if made in the same millisecond with the same
/// counter value (1 in 2^20 across two processes, never within one process
/// below 2^20 epochs per millisecond). Never 0: 0 means "no epoch".
uint64_t make_epoch();

/// One batch for one client stream.
struct price_batch {
  std::vector<price_update> updates;
  /// Counts the batches of one session from 1.
  uint64_t batch_seq = 0;
  /// True for the first batch of a session that asked for a snapshot.
  bool snapshot = false;
  /// The first batch of a resumed session: one entry per position.
  std::vector<recovery_result> recovery;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tick& x) {
  return f(caf::meta::type_name("tick"), x.price, x.volume, x.ts);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, price_update& x) {
  return f(caf::meta::type_name("price_update"), x.ticker, x.price, x.volume,
           x.ts, x.seq, x.conflated, x.epoch, x.gap);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stream_position& x) {
  return f(caf::meta::type_name("stream_position"), x.ticker, x.epoch, x.seq);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, recovery_result& x) {
  return f(caf::meta::type_name("recovery_result"), x.ticker, x.recovered,
           x.replayed);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, resume_reply& x) {
  return f(caf::meta::type_name("resume_reply"), x.recovered, x.updates);
}

} // namespace mm
