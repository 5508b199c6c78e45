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
};

/// One batch for one client stream.
struct price_batch {
  std::vector<price_update> updates;
  /// Counts the batches of one session from 1.
  uint64_t batch_seq = 0;
  /// True for the first batch of a session that asked for a snapshot.
  bool snapshot = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tick& x) {
  return f(caf::meta::type_name("tick"), x.price, x.volume, x.ts);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, price_update& x) {
  return f(caf::meta::type_name("price_update"), x.ticker, x.price, x.volume,
           x.ts, x.seq, x.conflated);
}

} // namespace mm
