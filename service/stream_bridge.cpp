#include "service/stream_bridge.hpp"

#include <string>
#include <utility>

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>

#include "actors/errors.hpp"
#include "actors/messages.hpp"
#include "actors/metrics.hpp"
#include "service/status.hpp"

namespace mm {

void to_proto(const price_update& x, marketmonitor::v1::PriceUpdate& y) {
  y.set_ticker(x.ticker);
  y.set_price(x.price);
  y.set_volume(x.volume);
  y.set_ts_unix_nanos(x.ts);
  y.set_seq(x.seq);
  y.set_conflated(x.conflated);
  y.set_epoch(x.epoch);
  y.set_gap(x.gap);
}

stream_bridge::stream_bridge(stream_ops* call, const settings& cfg)
  : call_(call), cfg_(cfg) {
  // nop
}

// --- stream_sink -------------------------------------------------------------

bool stream_bridge::bind(const stream_owner_actor& session) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (gone_ || phase_ != phase::open)
    return false;
  session_ = session.address();
  return true;
}

void stream_bridge::write(price_batch batch) {
  stream_ops* call;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    // A session writes one batch at a time and stops writing once it
    // finishes; anything else is dropped rather than corrupting the call.
    if (writing_ || phase_ != phase::open || done_ || call_ == nullptr)
      return;
    writing_ = true;
    write_claimed_locked();
    call = call_;
  }
  // Only this thread touches out_ until Write returned; the call stays
  // alive while the write is claimed.
  out_.Clear();
  out_.set_batch_seq(batch.batch_seq);
  out_.set_snapshot(batch.snapshot);
  auto* updates = out_.mutable_updates();
  updates->Reserve(static_cast<int>(batch.updates.size()));
  for (const auto& x : batch.updates)
    to_proto(x, *updates->Add());
  for (const auto& x : batch.recovery) {
    auto* y = out_.add_recovery();
    y->set_ticker(x.ticker);
    y->set_recovered(x.recovered);
    y->set_replayed(x.replayed);
  }
  call->write(out_);
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
  if (auto hdl = caf::actor_cast<stream_owner_actor>(session))
    caf::anon_send(hdl, stream_end_atom_v);
}

bool stream_bridge::finish_call(grpc::Status status) {
  stream_ops* call;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (phase_ != phase::open)
      return false;
    status_ = std::move(status);
    if (done_ || call_ == nullptr) {
      phase_ = phase::closed;
      return true;
    }
    if (writing_) {
      // on_write_done finishes, unless the client stopped reading: then
      // the cut ends the call. The alarm never runs our code inline.
      phase_ = phase::finishing;
      cut_armed_ = true;
      call_->arm_cut(std::chrono::system_clock::now() + cfg_.finish_grace);
      return true;
    }
    phase_ = phase::finish_sent;
    call = call_;
    status = status_;
  }
  call->finish(status);
  return true;
}

std::string stream_bridge::peer() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return peer_;
}

bool stream_bridge::pump(session_inbox_ptr inbox, size_t max_batch,
                         uint64_t batch_seq, uint32_t flush_interval_ms) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (inbox_ || writing_)
      return false;
    inbox_ = inbox;
    max_batch_ = max_batch;
    interval_ = std::chrono::milliseconds{flush_interval_ms};
    stats_.batch_seq = batch_seq;
  }
  inbox->set_pump(std::weak_ptr<inbox_pump>{shared_from_this()});
  // Whatever is pending already woke the session, not us, and the session
  // pumps when its flush is due: write it now.
  write_pending();
  return true;
}

pump_stats stream_bridge::pumped() const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto result = stats_;
  result.write_in_flight = writing_;
  return result;
}

// --- pumping -----------------------------------------------------------------

bool stream_bridge::take_locked() {
  taken_.clear();
  auto replaced = inbox_->take(max_batch_, taken_);
  if (taken_.empty())
    return false;
  writing_ = true;
  write_claimed_locked();
  stats_.add_batch(taken_.size(), replaced, std::chrono::steady_clock::now());
  cfg_.stats->count_batch(taken_, replaced, [](const session_inbox::entry& x) {
    return x.value().ts;
  });
  return true;
}

void stream_bridge::write_taken(stream_ops* call, uint64_t seq) {
  out_.Clear();
  out_.set_batch_seq(seq);
  auto* updates = out_.mutable_updates();
  updates->Reserve(static_cast<int>(taken_.size()));
  for (auto& x : taken_) {
    auto* y = updates->Add();
    to_proto(x.value(), *y);
    y->set_conflated(x.replaced);
    y->set_gap(x.written_gap());
  }
  // Drop our references to the shared payloads before the write.
  taken_.clear();
  call->write(out_);
}

void stream_bridge::write_claimed_locked() {
  write_started_ = std::chrono::steady_clock::now();
  if (cfg_.write_stall.count() > 0 && !stall_armed_ && call_ != nullptr)
    schedule_stall_check_locked(write_started_ + cfg_.write_stall);
}

void stream_bridge::schedule_stall_check_locked(
  std::chrono::steady_clock::time_point due) {
  stall_armed_ = true;
  cfg_.clock->schedule(due, std::weak_ptr<flush_target>{shared_from_this()},
                       cfg_.clock_shard, flush_clock::timer::stall_check);
}

void stream_bridge::schedule_locked() {
  if (flush_scheduled_)
    return;
  flush_scheduled_ = true;
  cfg_.clock->schedule(flush_clock::clock::now() + interval_,
                       std::weak_ptr<flush_target>{shared_from_this()},
                       cfg_.clock_shard);
}

void stream_bridge::kick() {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!inbox_ || phase_ != phase::open || done_ || call_ == nullptr)
    return;
  // Adaptive: the write in flight takes what is pending when it completes.
  if (interval_.count() == 0 && writing_)
    return;
  // The clock makes the write (adaptive: at once; fixed interval: when due,
  // or marks it due during a write) on the thread of the stream's queue, not
  // on the broadcaster's: one wake of that thread serves every stream of the
  // queue that a tick reached, and their completions come back to it while
  // it is awake instead of waking it once each.
  schedule_locked();
}

void stream_bridge::write_pending() {
  stream_ops* call;
  uint64_t seq;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!inbox_ || phase_ != phase::open || done_ || call_ == nullptr
        || writing_ || !take_locked())
      return;
    call = call_;
    seq = stats_.batch_seq;
  }
  write_taken(call, seq);
}

void stream_bridge::flush_due() {
  stream_ops* call;
  uint64_t seq;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    flush_scheduled_ = false;
    if (!inbox_ || phase_ != phase::open || done_ || call_ == nullptr)
      return;
    if (writing_) {
      flush_due_ = true;
      return;
    }
    if (!take_locked())
      return;
    call = call_;
    seq = stats_.batch_seq;
  }
  write_taken(call, seq);
}

// --- called by the gRPC layer ------------------------------------------------

void stream_bridge::started(std::string peer) {
  std::lock_guard<std::mutex> guard{mtx_};
  peer_ = std::move(peer);
}

void stream_bridge::attached() {
  std::lock_guard<std::mutex> guard{mtx_};
  if (done_ || counted_)
    return;
  counted_ = true;
  metrics::add(cfg_.stats->streams, 1);
}

// --- events of the call ------------------------------------------------------

stream_ops* stream_bridge::release_locked() {
  if (!done_ || writing_ || phase_ == phase::finish_sent || cut_armed_
      || expiry_armed_)
    return nullptr;
  auto* call = call_;
  call_ = nullptr;
  return call;
}

bool stream_bridge::on_write_done(bool ok) {
  stream_ops* call = nullptr;
  uint64_t seq = 0;
  grpc::Status status;
  caf::actor_addr session;
  bool tell = false;
  bool release;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    writing_ = false;
    if (phase_ == phase::finishing) {
      if (cut_armed_)
        call_->cancel_cut(); // its event comes back with ok = false
      if (done_) {
        phase_ = phase::closed;
      } else {
        phase_ = phase::finish_sent;
        call = call_;
        status = status_;
      }
    } else if (inbox_ && ok && phase_ == phase::open) {
      // Pumping: the session hears of failures only. Nothing pending: the
      // next put kicks us.
      if (!done_) {
        if (interval_.count() == 0 || flush_due_) {
          flush_due_ = false;
          if (take_locked()) {
            call = call_;
            seq = stats_.batch_seq;
          }
        } else if (inbox_->size() > 0) {
          schedule_locked();
        }
      }
    } else if (phase_ == phase::open) {
      session = session_;
      tell = true;
    }
    release = release_locked() != nullptr;
  }
  if (seq != 0)
    write_taken(call, seq);
  else if (call != nullptr)
    call->finish(status);
  if (tell)
    if (auto hdl = caf::actor_cast<stream_owner_actor>(session))
      caf::anon_send(hdl, write_done_atom_v, ok);
  return release;
}

bool stream_bridge::on_finish_done() {
  std::lock_guard<std::mutex> guard{mtx_};
  phase_ = phase::closed;
  return release_locked() != nullptr;
}

bool stream_bridge::on_cut(bool fired) {
  std::lock_guard<std::mutex> guard{mtx_};
  cut_armed_ = false;
  // Still waiting for the client to take the write after the finish: it
  // stopped reading. Cancelling fails the write (on_write_done finishes).
  if (fired && writing_ && phase_ == phase::finishing && !done_)
    call_->cancel();
  return release_locked() != nullptr;
}

void stream_bridge::expire_at(std::chrono::system_clock::time_point deadline) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (expiry_armed_ || done_ || phase_ != phase::open || call_ == nullptr)
    return;
  expiry_armed_ = true;
  call_->arm_expiry(deadline);
}

bool stream_bridge::on_expiry(bool fired) {
  bool expire;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    expiry_armed_ = false;
    expire = fired && phase_ == phase::open && !done_;
    if (!expire)
      return release_locked() != nullptr;
  }
  // The session ends with token_expired and its exit finishes the stream
  // (UNAUTHENTICATED "token expired"); without one, the bridge finishes it
  // itself, on the call's queue thread like on_done: the call cannot be done
  // meanwhile, and the finish keeps it alive until its completion.
  caf::actor_addr session;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    session = session_;
  }
  end_session(session, caf::make_error(ec::token_expired, "token expired"));
  std::lock_guard<std::mutex> guard{mtx_};
  return release_locked() != nullptr;
}

void stream_bridge::stall_check_due() {
  caf::actor_addr session;
  bool stalled = false;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stall_armed_ = false;
    // Only an open stream with a write in flight can stall; a finishing one
    // has the cut alarm, and a stream without a write schedules the check
    // again with its next write.
    if (writing_ && phase_ == phase::open && !done_ && call_ != nullptr) {
      auto due = write_started_ + cfg_.write_stall;
      if (std::chrono::steady_clock::now() >= due) {
        stalled = true;
        session = session_;
      } else {
        schedule_stall_check_locked(due);
      }
    }
  }
  if (stalled)
    end_session(
      session,
      caf::make_error(
        ec::client_not_reading,
        "client not reading: a write to the stream did not complete within "
          + std::to_string(cfg_.write_stall.count())
          + " ms (--write-stall-timeout-ms); session ended"));
}

void stream_bridge::end_session(const caf::actor_addr& session,
                                caf::error reason) {
  if (auto hdl = caf::actor_cast<caf::actor>(session))
    caf::anon_send<caf::message_priority::high>(
      hdl, caf::exit_msg{caf::actor_addr{}, std::move(reason)});
  else
    finish_call(to_status(reason));
}

namespace {

/// A cancel this close to the call's deadline counts as the deadline: the
/// client's own deadline timer resets the stream before the server's fires,
/// by as long as the request waited before the server read its
/// grpc-timeout (on a loaded node, hundreds of milliseconds: with a 50 ms
/// slack, 168 of 400 expired streams of churn_test counted as cancel at a
/// load average of 16).
constexpr auto deadline_slack = std::chrono::milliseconds{1000};

} // namespace

bool stream_bridge::on_done(bool cancelled) {
  caf::actor_addr session;
  bool tell = false;
  bool deadline = false;
  bool release;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    done_ = true;
    if (counted_)
      metrics::add(cfg_.stats->streams, -1);
    if (cancelled) {
      gone_ = true;
      if (phase_ == phase::open) {
        // The client's end: the session ends with it. gRPC does not say
        // why; a passed deadline is the one cause we can tell apart.
        phase_ = phase::closed;
        session = session_;
        tell = true;
        deadline = call_->deadline()
                   <= std::chrono::system_clock::now() + deadline_slack;
      }
    }
    if (cut_armed_)
      call_->cancel_cut();
    if (expiry_armed_)
      call_->cancel_expiry();
    release = release_locked() != nullptr;
  }
  if (tell && deadline) {
    // An exit_msg is no message of the session's interface: plain handle.
    if (auto hdl = caf::actor_cast<caf::actor>(session))
      caf::anon_send(
        hdl, caf::exit_msg{caf::actor_addr{},
                           caf::make_error(ec::deadline_exceeded,
                                           "the call's deadline passed")});
  } else if (tell) {
    if (auto hdl = caf::actor_cast<stream_owner_actor>(session))
      caf::anon_send(hdl, stream_end_atom_v);
  }
  return release;
}

} // namespace mm
