#pragma once

#include <memory>
#include <string>

#include "actors/price_update.hpp"

namespace caf {
class actor;
class error;
} // namespace caf

namespace mm {

/// One client stream as its session sees it: the small bridge between a
/// session actor (CAF's threads) and a gRPC ServerWriteReactor (gRPC's
/// threads). Implemented by the gRPC layer; tests use a recording fake.
///
/// Rules: one `write` in flight at a time (its completion arrives at the bound
/// session as `(write_done_atom, bool ok)`); the end of the client's side
/// arrives as `(stream_end_atom)`; `finish` may be called at any time, once
/// or more, and never blocks.
class stream_sink {
public:
  virtual ~stream_sink() = default;

  /// Binds the sink to `session`, the receiver of completions and of the
  /// stream's end. Returns false if the client has already gone.
  virtual bool bind(const caf::actor& session) = 0;

  /// Starts writing `batch`.
  virtual void write(price_batch batch) = 0;

  /// Ends the stream with the status that fits the session's exit `reason`.
  virtual void finish(const caf::error& reason) = 0;

  /// The client's address, for the inspector.
  virtual std::string peer() const = 0;
};

using stream_sink_ptr = std::shared_ptr<stream_sink>;

} // namespace mm
