#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <grpcpp/support/status.h>

#include <caf/actor_addr.hpp>
#include <caf/fwd.hpp>

#include "actors/session_inbox.hpp"
#include "actors/stream_sink.hpp"
#include "marketmonitor/v1/market_monitor.pb.h"
#include "service/flush_clock.hpp"

namespace mm {

struct metrics;

/// The operations of one server-streaming gRPC call that the bridge starts:
/// `stream_call` implements them on gRPC's completion-queue API (see there
/// for each), the bridge's unit tests on a recording fake. The completions
/// come back as the bridge's `on_*` events.
class stream_ops {
public:
  virtual ~stream_ops() = default;

  virtual void write(const marketmonitor::v1::PriceBatch& batch) = 0;

  virtual void finish(const grpc::Status& status) = 0;

  virtual void arm_cut(std::chrono::system_clock::time_point deadline) = 0;

  virtual void cancel_cut() = 0;

  virtual void arm_expiry(std::chrono::system_clock::time_point deadline) = 0;

  virtual void cancel_expiry() = 0;

  virtual void cancel() = 0;

  /// The call's deadline (time_point::max() if it has none).
  virtual std::chrono::system_clock::time_point deadline() const = 0;
};

/// Fills the PriceUpdate message of the API from `x`.
void to_proto(const price_update& x, marketmonitor::v1::PriceUpdate& y);

/// The bridge between one session actor (CAF's threads) and one gRPC server
/// stream (a `stream_call` through `stream_ops`, whose events arrive on its
/// completion queue's thread): the session's `stream_sink`. Shared by the
/// session and the call; it outlives the call, which is deleted once gRPC is
/// done with it.
///
/// One write in flight: `write` starts it, its completion goes to the session
/// as `(write_done_atom, ok)`. The client's end (cancel, deadline, transport
/// failure) goes to the session as `(stream_end_atom)`. `finish` ends the
/// call exactly once, after the write in flight if there is one. A write that
/// the client does not take within `finish_grace` after the finish (it
/// stopped reading) is cut by cancelling the call, so that an ended session
/// never leaves its stream behind.
///
/// A write that does not complete within `write_stall` (the client stopped
/// reading, in either delivery mode) ends the session with
/// ec::client_not_reading, through its actor: the session's exit finishes
/// the stream as above. One stall check per stream on the node's
/// `flush_clock` (not a gRPC alarm: an armed alarm is a tag that every event
/// of its completion queue searches in Debian's gRPC), scheduled by the
/// first write that finds none on its way and again only while writes keep
/// being in flight, so a healthy stream costs one check per `write_stall`
/// at most.
///
/// Once the session hands it its CONFLATE inbox (`pump`), the bridge writes
/// from the inbox itself: a put that finds the inbox idle kicks it (on the
/// broadcaster's thread) and the kick schedules a flush on the node's
/// `flush_clock`, which makes the write on the thread of the stream's queue:
/// adaptive (`flush_interval_ms` 0) at once, unless a write is in flight (its
/// completion takes what arrived meanwhile), with a fixed interval when the
/// interval is up. All state is guarded by one mutex, held for a few
/// instructions; gRPC is called outside it.
class stream_bridge final : public stream_sink,
                            public inbox_pump,
                            public flush_target,
                            public std::enable_shared_from_this<stream_bridge> {
public:
  /// What every bridge of a node shares.
  struct settings {
    caf::actor_system* sys;
    flush_clock* clock;
    /// The flush clock's shard of this bridge's flushes.
    size_t clock_shard;
    /// How long a client may take the write in flight after the finish.
    std::chrono::milliseconds finish_grace;
    metrics* stats;
    /// A write not completed for this long ends the session with
    /// ec::client_not_reading (0: never).
    std::chrono::milliseconds write_stall{0};
  };

  stream_bridge(stream_ops* call, const settings& cfg);

  // --- stream_sink (called by the session) ---------------------------------

  bool bind(const stream_owner_actor& session) override;

  void write(price_batch batch) override;

  void finish(const caf::error& reason) override;

  std::string peer() const override;

  bool pump(session_inbox_ptr inbox, size_t max_batch, uint64_t batch_seq,
            uint32_t flush_interval_ms) override;

  pump_stats pumped() const override;

  // --- inbox_pump and flush_target -----------------------------------------

  void kick() override;

  void flush_due() override;

  /// The write stall check: ends the session if the write in flight is
  /// older than `write_stall`.
  void stall_check_due() override;

  // --- called by the gRPC layer --------------------------------------------

  /// Counts the stream as attached to its session (metrics `streams`) unless
  /// the call is already over.
  void attached();

  /// Ends the stream with UNAUTHENTICATED "token expired" at `deadline`
  /// (the expiry of the token that opened it), through the session like
  /// any end the session did not ask for. Call on the call's queue thread
  /// while the call is being served (arrival).
  void expire_at(std::chrono::system_clock::time_point deadline);

  /// Ends the stream with `status` (e.g. the attach request failed) and
  /// tells the bound session, if any; a no-op if it is already finishing.
  void finish(grpc::Status status);

  // --- events of the call (on its queue's thread) --------------------------
  // Each returns true when the call has no operation left and is over: the
  // call deletes itself then.

  /// The call arrived: the bridge may use it from now on.
  void started(std::string peer);

  bool on_write_done(bool ok);

  bool on_finish_done();

  bool on_cut(bool fired);

  bool on_expiry(bool fired);

  /// gRPC is done with the call; `cancelled`: the client's side ended it.
  bool on_done(bool cancelled);

private:
  /// Where the call is in its life.
  enum class phase {
    /// Writes may start.
    open,
    /// A finish waits for the write in flight.
    finishing,
    /// Finish was called; its completion is pending.
    finish_sent,
    /// Finish completed, or gRPC is done with the call without it.
    closed,
  };

  /// The call to delete if it has no operation left (locked by the caller).
  stream_ops* release_locked();

  /// Ends `session` with `reason` (its exit finishes the stream with the
  /// status for that reason); without a session, finishes the stream itself.
  /// Not locked by the caller.
  void end_session(const caf::actor_addr& session, caf::error reason);

  /// Calls Finish now or after the write in flight; false if already done.
  bool finish_call(grpc::Status status);

  /// Pumping: takes the next batch from the inbox into `taken_` and claims
  /// the write (locked by the caller); false if nothing is pending.
  bool take_locked();

  /// Pumping: writes what is pending unless a write is in flight.
  void write_pending();

  /// Writes `taken_` as batch `seq` (the caller claimed the write).
  void write_taken(stream_ops* call, uint64_t seq);

  /// A write was claimed: notes its start and schedules the stall check if
  /// none is on its way (locked by the caller).
  void write_claimed_locked();

  /// Puts the stall check on the flush clock for `due` (locked by the
  /// caller).
  void schedule_stall_check_locked(std::chrono::steady_clock::time_point due);

  /// Fixed interval: asks the clock for a flush unless one is on its way
  /// (locked by the caller).
  void schedule_locked();

  mutable std::mutex mtx_;
  /// Null once the call is released.
  stream_ops* call_;
  settings cfg_;
  phase phase_ = phase::open;
  /// gRPC is done with the call (done event).
  bool done_ = false;
  /// The client's side ended (cancel, deadline, broken transport).
  bool gone_ = false;
  bool writing_ = false;
  /// The cut alarm is pending.
  bool cut_armed_ = false;
  /// The expiry alarm is pending.
  bool expiry_armed_ = false;
  /// The stall check is on the clock; when the write in flight started.
  bool stall_armed_ = false;
  std::chrono::steady_clock::time_point write_started_;
  /// Counted in metrics `streams`.
  bool counted_ = false;
  /// Fixed interval: a flush is on the clock; one came due during a write.
  bool flush_scheduled_ = false;
  bool flush_due_ = false;
  /// The status of the finish.
  grpc::Status status_;
  /// Weak, so that the sink held by the session pins nothing.
  caf::actor_addr session_;
  std::string peer_;
  /// The batch being written: gRPC serialises it in Write, so it is only
  /// touched by the writer that claimed the write.
  marketmonitor::v1::PriceBatch out_;
  /// Pumping: the session's inbox (null before `pump`), its interval, what
  /// was written, and the entries of the write being made.
  session_inbox_ptr inbox_;
  size_t max_batch_ = 0;
  std::chrono::milliseconds interval_{0};
  pump_stats stats_;
  std::vector<session_inbox::entry> taken_;
};

} // namespace mm
