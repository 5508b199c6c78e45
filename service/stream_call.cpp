#include "service/stream_call.hpp"

#include <utility>

namespace mm {

stream_call::stream_call(grpc::ServerCompletionQueue& cq,
                         const stream_bridge::settings& cfg)
  : writer_(&ctx_),
    cq_(cq),
    arrived_tag_(this, &stream_call::on_arrived),
    // Not make_shared: the flush clock's timers hold weak_ptrs to the
    // bridge, and with make_shared each would keep the bridge's memory
    // until it comes due (a stall check: 30 s after the stream ended).
    bridge_(new stream_bridge(this, cfg)), // NOLINT(modernize-make-shared)
    write_tag_(this, &stream_call::on_write),
    finish_tag_(this, &stream_call::on_finish),
    cut_tag_(this, &stream_call::on_cut),
    expiry_tag_(this, &stream_call::on_expiry),
    done_tag_(this, &stream_call::on_done) {
  // nop
}

stream_call::~stream_call() = default;

void stream_call::tag::proceed(bool ok) {
  auto* call = call_;
  // The bridge may hold the last reference to itself only through the call.
  auto keep = call->bridge_;
  if ((call->*fn_)(ok))
    delete call;
}

void stream_call::notify_when_done() {
  ctx_.AsyncNotifyWhenDone(&done_tag_);
}

void stream_call::write(const marketmonitor::v1::PriceBatch& batch) {
  // Serialises `batch` before it returns.
  writer_.Write(batch, &write_tag_);
}

void stream_call::finish(const grpc::Status& status) {
  writer_.Finish(status, &finish_tag_);
}

void stream_call::arm_cut(std::chrono::system_clock::time_point deadline) {
  if (!cut_)
    cut_.emplace();
  cut_->Set(&cq_, deadline, &cut_tag_);
}

void stream_call::cancel_cut() {
  if (cut_)
    cut_->Cancel();
}

void stream_call::arm_expiry(std::chrono::system_clock::time_point deadline) {
  if (!expiry_)
    expiry_.emplace();
  expiry_->Set(&cq_, deadline, &expiry_tag_);
}

void stream_call::cancel_expiry() {
  if (expiry_)
    expiry_->Cancel();
}

void stream_call::cancel() {
  ctx_.TryCancel();
}

bool stream_call::on_arrived(bool ok) {
  if (!ok) // The server shuts down: this call never started.
    return true;
  bridge_->started(ctx_.peer());
  return arrived(ok);
}

bool stream_call::on_write(bool ok) {
  return bridge_->on_write_done(ok);
}

bool stream_call::on_finish(bool) {
  return bridge_->on_finish_done();
}

bool stream_call::on_cut(bool ok) {
  return bridge_->on_cut(ok);
}

bool stream_call::on_expiry(bool ok) {
  return bridge_->on_expiry(ok);
}

bool stream_call::on_done(bool) {
  return bridge_->on_done(ctx_.IsCancelled());
}

} // namespace mm
