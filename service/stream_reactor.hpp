#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include <grpcpp/alarm.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>
#include <grpcpp/support/status.h>

#include <caf/actor_addr.hpp>
#include <caf/fwd.hpp>

#include "actors/session_inbox.hpp"
#include "actors/stream_sink.hpp"
#include "marketmonitor/v1/market_monitor.pb.h"

namespace mm {

struct metrics;
class stream_reactor;

/// Fills the PriceUpdate message of the API from `x`.
void to_proto(const price_update& x, marketmonitor::v1::PriceUpdate& y);

/// The bridge between one session actor (CAF's threads) and one gRPC server
/// stream (gRPC's threads): the session's `stream_sink`. Shared by the session
/// and the reactor; it outlives the reactor, which gRPC deletes after OnDone.
///
/// One write in flight: `write` starts it, its completion goes to the session
/// as `(write_done_atom, ok)`. The client's end (cancel, deadline, transport
/// failure) goes to the session as `(stream_end_atom)`. `finish` calls
/// gRPC's Finish exactly once, after the write in flight if there is one.
/// A write that the client does not take within `finish_grace` after the
/// finish (it stopped reading) is cut by cancelling the call, so that an
/// ended session never leaves its stream behind.
///
/// Once the session hands it its CONFLATE inbox (`pump`), the bridge writes
/// from the inbox itself: a put that finds the inbox idle kicks it (on the
/// broadcaster's thread), a completed write takes what arrived meanwhile
/// (on gRPC's thread). Taking and clearing `writing_` happen under the
/// mutex, so a put that empties-then-refills the inbox never finds the
/// bridge "busy" after its last look: no wake-up is lost.
///
/// Calls into gRPC happen outside the mutex, which only guards the flags:
/// gRPC may run a reaction inline on the calling thread.
class stream_bridge final : public stream_sink,
                            public inbox_pump,
                            public std::enable_shared_from_this<stream_bridge> {
public:
  stream_bridge(stream_reactor* reactor, grpc::CallbackServerContext* ctx,
                caf::actor_system& sys, std::chrono::milliseconds finish_grace,
                metrics& m);

  // --- stream_sink (called by the session) ---------------------------------

  bool bind(const caf::actor& session) override;

  void write(price_batch batch) override;

  void finish(const caf::error& reason) override;

  std::string peer() const override;

  bool pump(session_inbox_ptr inbox, size_t max_batch,
            uint64_t batch_seq) override;

  pump_stats pumped() const override;

  // --- inbox_pump (called by whoever fills the inbox) ------------------------

  void kick() override;

  // --- called by the gRPC layer --------------------------------------------

  /// Counts the stream as attached to its session (metrics `streams`) unless
  /// the call is already over.
  void attached();

  /// Ends the stream with `status` (e.g. the attach request failed) and
  /// tells the bound session, if any; a no-op if it is already finishing.
  void finish(grpc::Status status);

  // --- reactions of the reactor --------------------------------------------

  void on_write_done(bool ok);

  void on_cancel();

  void on_done();

private:
  /// Calls Finish now or after the write in flight; false if already done.
  bool finish_call(grpc::Status status);

  /// Cancels the call if the write in flight is still pending after the
  /// finish grace period. A gRPC alarm, not a CAF timer: an actor kept
  /// alive only by its own delayed message deadlocks CAF 0.17's clock
  /// thread when the actor system shuts down before the message is due.
  void arm_cut();
  void cut_stuck_write();

  /// Pumping: takes the next batch from the inbox into `taken_` and claims
  /// the write (locked by the caller); false if nothing is pending.
  bool take_locked();

  /// Writes `taken_` as batch `seq` (the caller claimed the write).
  void write_taken(stream_reactor* reactor, uint64_t seq);

  /// Starts the write of `out_` (the caller claimed the write).
  void start_write(stream_reactor* reactor);

  mutable std::mutex mtx_;
  /// Null once gRPC is done with the call (OnDone), like `ctx_`.
  stream_reactor* reactor_;
  grpc::CallbackServerContext* ctx_;
  caf::actor_system& sys_;
  const std::chrono::milliseconds finish_grace_;
  /// Weak, so that the sink held by the session pins nothing.
  caf::actor_addr session_;
  bool gone_ = false;
  bool writing_ = false;
  bool finishing_ = false;
  bool finish_called_ = false;
  bool counted_ = false;
  /// TryCancel is running: Finish waits for it, so `ctx_` stays valid.
  bool cutting_ = false;
  bool finish_after_cut_ = false;
  grpc::Status status_;
  /// The batch of the write in flight; gRPC reads it until OnWriteDone.
  marketmonitor::v1::PriceBatch out_;
  /// The pending cut, if any (see arm_cut).
  std::unique_ptr<grpc::Alarm> cut_alarm_;
  const std::string peer_;
  metrics& metrics_;
  /// Pumping: the session's inbox (null before `pump`), what it wrote, and
  /// the entries of the write in flight (only the writer touches them).
  session_inbox_ptr inbox_;
  size_t max_batch_ = 0;
  pump_stats stats_;
  std::vector<session_inbox::entry> taken_;
};

/// Tells ThreadSanitizer that every stream reactor's OnDone returned before
/// this call, which the caller makes once the gRPC server is shut down:
/// gRPC's Shutdown and Wait return only after the last OnDone. Does nothing
/// in other builds.
void stream_reactors_joined();

/// The server side of one `StreamPriceUpdates` or `Subscribe` call. Owns
/// nothing but the call; everything else goes through its bridge.
class stream_reactor final
  : public grpc::ServerWriteReactor<marketmonitor::v1::PriceBatch> {
public:
  stream_reactor(grpc::CallbackServerContext* ctx, caf::actor_system& sys,
                 std::chrono::milliseconds finish_grace, metrics& m);

  const std::shared_ptr<stream_bridge>& bridge() const {
    return bridge_;
  }

  void OnWriteDone(bool ok) override;

  void OnCancel() override;

  void OnDone() override;

private:
  std::shared_ptr<stream_bridge> bridge_;
};

} // namespace mm
