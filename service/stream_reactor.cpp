#include "service/stream_reactor.hpp"

#include <functional>
#include <utility>

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "actors/messages.hpp"
#include "actors/metrics.hpp"
#include "service/status.hpp"
#include "service/tsan_annotations.hpp"

namespace mm {

namespace {

// gRPC runs a reactor's reactions only after the method handler returned
// it, and OnDone only after every other reaction returned, but it orders
// both through its own synchronisation, which ThreadSanitizer does not see.
// The tsan_release/tsan_acquire pairs in this file mark exactly those two
// edges, on the reactor's address ("constructed") and on its bridge member
// ("reaction over"), the one from a gRPC alarm's Set to its callback, the
// one from a StartWrite to its OnWriteDone (the batch buffer), and the
// server's shutdown, which returns after every OnDone.

/// Released by every OnDone, acquired by stream_reactors_joined.
const char reactions_over = 0;

} // namespace

void to_proto(const price_update& x, marketmonitor::v1::PriceUpdate& y) {
  y.set_ticker(x.ticker);
  y.set_price(x.price);
  y.set_volume(x.volume);
  y.set_ts_unix_nanos(x.ts);
  y.set_seq(x.seq);
  y.set_conflated(x.conflated);
}

// --- stream_bridge -----------------------------------------------------------

stream_bridge::stream_bridge(stream_reactor* reactor,
                             grpc::CallbackServerContext* ctx,
                             caf::actor_system& sys,
                             std::chrono::milliseconds finish_grace, metrics& m)
  : reactor_(reactor),
    ctx_(ctx),
    sys_(sys),
    finish_grace_(finish_grace),
    peer_(ctx->peer()),
    metrics_(m) {
  // nop
}

bool stream_bridge::bind(const caf::actor& session) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (gone_ || finishing_)
    return false;
  session_ = session.address();
  return true;
}

void stream_bridge::write(price_batch batch) {
  stream_reactor* reactor;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    // A session writes one batch at a time and stops writing once it
    // finishes; anything else is dropped rather than corrupting the call.
    if (writing_ || finishing_ || reactor_ == nullptr)
      return;
    writing_ = true;
    reactor = reactor_;
  }
  // Only this thread touches out_ until OnWriteDone, and the reactor stays
  // alive: gRPC cannot call OnDone before Finish, which waits for us.
  out_.Clear();
  out_.set_batch_seq(batch.batch_seq);
  out_.set_snapshot(batch.snapshot);
  auto* updates = out_.mutable_updates();
  updates->Reserve(static_cast<int>(batch.updates.size()));
  for (const auto& x : batch.updates)
    to_proto(x, *updates->Add());
  start_write(reactor);
}

void stream_bridge::finish(const caf::error& reason) {
  finish_call(to_status(reason));
}

void stream_bridge::finish(grpc::Status status) {
  if (!finish_call(std::move(status)))
    return;
  // The session did not ask for this end: tell it, or it would wait for a
  // write completion that never comes.
  caf::actor_addr session;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    session = session_;
  }
  if (auto hdl = caf::actor_cast<caf::actor>(session))
    caf::anon_send(hdl, stream_end_atom_v);
}

bool stream_bridge::finish_call(grpc::Status status) {
  stream_reactor* reactor;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (finishing_)
      return false;
    finishing_ = true;
    status_ = std::move(status);
    if (reactor_ == nullptr)
      return true;
    if (writing_) {
      // on_write_done finishes, unless the client stopped reading.
      reactor = nullptr;
    } else {
      finish_called_ = true;
      reactor = reactor_;
      status = status_;
    }
  }
  if (reactor == nullptr) {
    arm_cut();
    return true;
  }
  reactor->Finish(std::move(status));
  return true;
}

void stream_bridge::arm_cut() {
  // gRPC runs the callback, and then destroys it, on one of its threads,
  // after the alarm (and maybe the bridge) is gone if it was cancelled: one
  // sync address for all alarms, which outlives them.
  static const char alarm_sync = 0;
  std::weak_ptr<stream_bridge> weak = shared_from_this();
  auto alarm = std::make_unique<grpc::Alarm>();
  // Destroying the bridge cancels the alarm (its callback then gets false).
  std::function<void(bool)> on_alarm = [weak](bool fired) {
    tsan_acquire(&alarm_sync);
    if (!fired)
      return;
    if (auto bridge = weak.lock())
      bridge->cut_stuck_write();
  };
  tsan_release(&alarm_sync);
  alarm->Set(std::chrono::system_clock::now() + finish_grace_,
             std::move(on_alarm));
  std::lock_guard<std::mutex> guard{mtx_};
  cut_alarm_ = std::move(alarm);
}

void stream_bridge::cut_stuck_write() {
  grpc::CallbackServerContext* ctx;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!writing_ || finish_called_ || reactor_ == nullptr)
      return;
    cutting_ = true;
    ctx = ctx_;
  }
  // Fails the write in flight (OnWriteDone(false)) and may run reactions
  // inline; none of them calls Finish while cutting_ is set.
  ctx->TryCancel();
  stream_reactor* reactor = nullptr;
  grpc::Status status;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    cutting_ = false;
    if (!finish_after_cut_)
      return;
    finish_called_ = true;
    reactor = reactor_;
    status = status_;
  }
  reactor->Finish(std::move(status));
}

std::string stream_bridge::peer() const {
  return peer_;
}

bool stream_bridge::pump(session_inbox_ptr inbox, size_t max_batch,
                         uint64_t batch_seq) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (inbox_ || writing_)
      return false;
    inbox_ = inbox;
    max_batch_ = max_batch;
    stats_.batch_seq = batch_seq;
  }
  inbox->set_pump(std::weak_ptr<inbox_pump>{shared_from_this()});
  // Whatever is pending already woke the session, not us.
  kick();
  return true;
}

pump_stats stream_bridge::pumped() const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto result = stats_;
  result.write_in_flight = writing_;
  return result;
}

bool stream_bridge::take_locked() {
  taken_.clear();
  auto replaced = inbox_->take(max_batch_, taken_);
  if (taken_.empty())
    return false;
  writing_ = true;
  ++stats_.batch_seq;
  stats_.delivered += taken_.size();
  stats_.conflated += replaced;
  stats_.last_write = std::chrono::steady_clock::now();
  metrics_.count_batch(taken_.size(), replaced);
  return true;
}

void stream_bridge::write_taken(stream_reactor* reactor, uint64_t seq) {
  out_.Clear();
  out_.set_batch_seq(seq);
  auto* updates = out_.mutable_updates();
  updates->Reserve(static_cast<int>(taken_.size()));
  for (auto& x : taken_) {
    auto* y = updates->Add();
    to_proto(x.update.get_as<price_update>(0), *y);
    y->set_conflated(x.replaced);
  }
  // Drop our references to the shared payloads before the write.
  taken_.clear();
  start_write(reactor);
}

void stream_bridge::start_write(stream_reactor* reactor) {
  // The next writer (OnWriteDone's thread, or a kick after it) touches
  // out_ and taken_ only after this write completed: gRPC orders that, but
  // in code ThreadSanitizer cannot see; on_write_done acquires this.
  tsan_release(&out_);
  reactor->StartWrite(&out_);
}

void stream_bridge::kick() {
  stream_reactor* reactor;
  uint64_t seq;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!inbox_ || writing_ || finishing_ || reactor_ == nullptr)
      return;
    if (!take_locked())
      return;
    reactor = reactor_;
    seq = stats_.batch_seq;
  }
  write_taken(reactor, seq);
}

void stream_bridge::attached() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (reactor_ == nullptr || counted_)
      return;
    counted_ = true;
    metrics::add(metrics_.streams, 1);
    if (!gone_ || session_)
      return;
  }
  // The client left before the session could bind: nobody else would
  // finish the call.
  finish(grpc::Status{grpc::StatusCode::CANCELLED, "stream ended"});
}

void stream_bridge::on_write_done(bool ok) {
  tsan_acquire(&out_); // see start_write
  stream_reactor* reactor = nullptr;
  grpc::Status status;
  caf::actor_addr session;
  uint64_t seq = 0;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    writing_ = false;
    if (finishing_ && !finish_called_ && cutting_) {
      finish_after_cut_ = true;
      return;
    }
    if (finishing_ && !finish_called_) {
      finish_called_ = true;
      reactor = reactor_;
      status = status_;
    } else if (inbox_ && ok && !finishing_) {
      // Pumping: the session hears of failures only. Nothing pending: the
      // next put kicks us.
      if (reactor_ == nullptr || !take_locked())
        return;
      reactor = reactor_;
      seq = stats_.batch_seq;
    } else {
      session = session_;
    }
  }
  if (seq != 0)
    write_taken(reactor, seq);
  else if (reactor != nullptr)
    reactor->Finish(std::move(status));
  else if (auto hdl = caf::actor_cast<caf::actor>(session))
    caf::anon_send(hdl, write_done_atom_v, ok);
}

void stream_bridge::on_cancel() {
  caf::actor_addr session;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    gone_ = true;
    session = session_;
  }
  // Not bound yet: the pending attach fails and finishes the call.
  if (auto hdl = caf::actor_cast<caf::actor>(session))
    caf::anon_send(hdl, stream_end_atom_v);
}

void stream_bridge::on_done() {
  std::lock_guard<std::mutex> guard{mtx_};
  reactor_ = nullptr;
  ctx_ = nullptr;
  gone_ = true;
  if (counted_)
    metrics::add(metrics_.streams, -1);
}

// --- stream_reactor ----------------------------------------------------------

stream_reactor::stream_reactor(grpc::CallbackServerContext* ctx,
                               caf::actor_system& sys,
                               std::chrono::milliseconds finish_grace,
                               metrics& m)
  : bridge_(std::make_shared<stream_bridge>(this, ctx, sys, finish_grace, m)) {
  tsan_release(this);
}

void stream_reactor::OnWriteDone(bool ok) {
  tsan_acquire(this);
  bridge_->on_write_done(ok);
  tsan_release(&bridge_);
}

void stream_reactor::OnCancel() {
  tsan_acquire(this);
  bridge_->on_cancel();
  tsan_release(&bridge_);
}

void stream_reactor::OnDone() {
  tsan_acquire(this);
  tsan_acquire(&bridge_);
  bridge_->on_done();
  delete this;
  tsan_release(&reactions_over);
}

void stream_reactors_joined() {
  tsan_acquire(&reactions_over);
}

} // namespace mm
