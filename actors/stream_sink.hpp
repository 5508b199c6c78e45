#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "actors/interfaces.hpp"
#include "actors/price_update.hpp"

namespace caf {
class error;
} // namespace caf

namespace mm {

class session_inbox;

/// What one writer of a session's batches counted: the session itself, or
/// its sink once it pumps. Both count through add_batch, so that batch_seq,
/// delivered and conflated mean the same whichever wrote.
struct batch_counts {
  uint64_t delivered = 0;
  /// Replacements of the updates it wrote (their `conflated` fields).
  uint64_t conflated = 0;
  /// The batch_seq of its last batch.
  uint64_t batch_seq = 0;
  /// When it started its last write (meaningless before its first batch).
  std::chrono::steady_clock::time_point last_write;

  /// Counts a batch of `n` updates, written at `now`, that had replaced
  /// `replaced` older ones; returns the batch's batch_seq.
  uint64_t add_batch(size_t n, uint64_t replaced,
                     std::chrono::steady_clock::time_point now) {
    delivered += n;
    conflated += replaced;
    last_write = now;
    return ++batch_seq;
  }
};

/// What a pumping sink wrote on its own (see `stream_sink::pump`).
struct pump_stats : batch_counts {
  bool write_in_flight = false;
};

/// One client stream as its session sees it: the small bridge between a
/// session actor (CAF's threads) and a gRPC ServerWriteReactor (gRPC's
/// threads). Implemented by the gRPC layer; tests use a recording fake.
///
/// Rules: one `write` in flight at a time (its completion arrives at the bound
/// session as `(write_done_atom, bool ok)`); the end of the client's side
/// arrives as `(stream_end_atom)` (stream_owner_actor); `finish` may be called
/// at any time, once or more, and never blocks.
class stream_sink {
public:
  virtual ~stream_sink() = default;

  /// Binds the sink to `session`, the receiver of completions and of the
  /// stream's end. Returns false if the client has already gone.
  virtual bool bind(const stream_owner_actor& session) = 0;

  /// Starts writing `batch`.
  virtual void write(price_batch batch) = 0;

  /// Ends the stream with the status that fits the session's exit `reason`.
  virtual void finish(const caf::error& reason) = 0;

  /// The client's address, for the inspector.
  virtual std::string peer() const = 0;

  /// Optional: from now on the sink writes the pending updates of `inbox`
  /// itself, at most `max_batch` per batch, numbered after `batch_seq`:
  /// with `flush_interval_ms` 0 whenever a put finds the inbox idle and
  /// whenever one of its writes completes with more pending; otherwise
  /// `flush_interval_ms` after a put finds the inbox idle, or at once when a
  /// write completes after that time passed. Steady-state delivery then
  /// costs no message to the session and back, and no timer of its own.
  /// Only a failed write still reaches the session, as
  /// `(write_done_atom, false)`. The session calls it at most once, with no
  /// write in flight, and writes nothing itself afterwards. Returns false if
  /// the sink cannot pump (the session keeps writing).
  // NOLINTNEXTLINE(performance-unnecessary-value-param): overrides keep it
  virtual bool pump(std::shared_ptr<session_inbox> /* inbox */,
                    size_t /* max_batch */, uint64_t /* batch_seq */,
                    uint32_t /* flush_interval_ms */) {
    return false;
  }

  /// What the sink wrote on its own since `pump`.
  virtual pump_stats pumped() const {
    return {};
  }
};

// stream_sink_ptr: in actors/messages.hpp, as a message type.

} // namespace mm
