#pragma once

#include <cstdint>
#include <string>

#include <vector>

#include <caf/fwd.hpp>
#include <caf/meta/type_name.hpp>

#include "actors/price_update.hpp"

namespace mm {

struct node_config;

/// How a session delivers (SessionOptions of the API).
enum class delivery_mode : uint8_t {
  /// Keep only the newest update per ticker while waiting.
  conflate = 0,
  /// Every tick, in a bounded queue (--max-pending).
  all = 1,
};

/// The options of one session, already resolved against the server defaults.
struct session_options {
  /// 0: adaptive (write at once when idle, batch while a write is in flight).
  uint32_t flush_interval_ms = 0;
  bool snapshot = false;
  uint32_t max_batch = 0;
  delivery_mode mode = delivery_mode::conflate;
  /// At most this many updates per second per ticker (0: unlimited);
  /// CONFLATE only.
  uint32_t max_frequency_hz = 0;
  /// Where to resume (StreamPosition): one per ticker at most, each of a
  /// subscribed ticker (checked by the gRPC layer). Not an option but part
  /// of the start request; it rides here so that the registry passes it on.
  std::vector<stream_position> resume_from;
};

/// Replaces zeros in `opts` by the server defaults of `cfg` and checks the
/// rest; fails with `ec::bad_option` and what is wrong, in words (see
/// `text_of`).
caf::error resolve_options(session_options& opts, uint32_t raw_mode,
                           const node_config& cfg);

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, session_options& x) {
  return f(caf::meta::type_name("session_options"), x.flush_interval_ms,
           x.snapshot, x.max_batch, x.mode, x.max_frequency_hz, x.resume_from);
}

} // namespace mm
