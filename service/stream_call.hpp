#pragma once

#include <chrono>
#include <memory>
#include <optional>

#include <grpcpp/alarm.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/async_stream.h>
#include <grpcpp/support/status.h>

#include "marketmonitor/v1/market_monitor.grpc.pb.h"
#include "service/completion_queues.hpp"
#include "service/stream_bridge.hpp"

namespace mm {

/// One server-streaming call (`StreamPriceUpdates` or `Subscribe`) on
/// gRPC's completion-queue API: owns the call's context and writer, and
/// hands every completion of the call to its bridge, on the thread of the
/// call's queue. The bridge decides which operation starts when (one write,
/// one finish, one cut alarm at a time) and when the call is released; the
/// call deletes itself then. The bridge itself is shared with the session
/// and may outlive the call.
class stream_call : public stream_ops {
public:
  stream_call(grpc::ServerCompletionQueue& cq,
              const stream_bridge::settings& cfg);
  ~stream_call() override;
  stream_call(const stream_call&) = delete;
  stream_call& operator=(const stream_call&) = delete;

  grpc::ServerContext& context() {
    return ctx_;
  }

  const std::shared_ptr<stream_bridge>& bridge() const {
    return bridge_;
  }

  // --- stream_ops: operations, started by the bridge ------------------------

  void write(const marketmonitor::v1::PriceBatch& batch) override;

  void finish(const grpc::Status& status) override;

  /// Completes (as a cut event) at `deadline`, or at once if cancelled.
  void arm_cut(std::chrono::system_clock::time_point deadline) override;

  void cancel_cut() override;

  /// Completes (as an expiry event) at `deadline`, or at once if cancelled.
  void arm_expiry(std::chrono::system_clock::time_point deadline) override;

  void cancel_expiry() override;

  /// Fails the write in flight and ends the call (TryCancel).
  void cancel() override;

  std::chrono::system_clock::time_point deadline() const override {
    return ctx_.deadline();
  }

  /// Asks gRPC for a call of this method on this queue (once per object).
  virtual void request() = 0;

protected:
  /// The call arrived (ok) or will not, because the server shuts down.
  /// Returns true if the call is to be deleted.
  virtual bool arrived(bool ok) = 0;

  /// The arrival tag and the ones the subclass passes to `request`.
  class tag final : public cq_tag {
  public:
    using handler = bool (stream_call::*)(bool);

    tag(stream_call* call, handler fn) : call_(call), fn_(fn) {
      // nop
    }

    void proceed(bool ok) override;

  private:
    stream_call* call_;
    handler fn_;
  };

  /// Starts watching for the end of the call; call right before `request`.
  void notify_when_done();

  grpc::ServerContext ctx_;
  grpc::ServerAsyncWriter<marketmonitor::v1::PriceBatch> writer_;
  grpc::ServerCompletionQueue& cq_;
  tag arrived_tag_;

private:
  bool on_write(bool ok);
  bool on_finish(bool ok);
  bool on_cut(bool ok);
  bool on_expiry(bool ok);
  bool on_done(bool ok);
  bool on_arrived(bool ok);

  std::shared_ptr<stream_bridge> bridge_;
  // Made when first armed: most streams never arm either, and each alarm
  // costs about 240 bytes (docs/benchmarks.md, "Memory per session").
  std::optional<grpc::Alarm> cut_;
  std::optional<grpc::Alarm> expiry_;
  tag write_tag_;
  tag finish_tag_;
  tag cut_tag_;
  tag expiry_tag_;
  tag done_tag_;
};

} // namespace mm
