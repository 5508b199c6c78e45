#pragma once

// Many server streams at once on gRPC's callback API, without a thread each.

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "service/tsan_annotations.hpp"
#include "tests/integration/harness.hpp"

namespace mm::test {

// gRPC runs a reactor's reactions only after StartCall, ordered by its own
// synchronisation: the reactors below mark that edge with tsan_release /
// tsan_acquire (service/tsan_annotations.hpp).

/// One server stream driven by gRPC's callback API, so that hundreds run
/// without a thread each.
class churn_stream : public grpc::ClientReadReactor<pb::PriceBatch> {
public:
  void subscribe(pb::MarketMonitor::Stub& stub, pb::SubscribeRequest req,
                 std::optional<milliseconds> deadline = std::nullopt) {
    if (deadline)
      ctx_.set_deadline(deadline_in(*deadline));
    sub_req_ = std::move(req);
    stub.async()->Subscribe(&ctx_, &sub_req_, this);
    StartRead(&batch_);
    tsan_release(this);
    StartCall();
  }

  void stream(pb::MarketMonitor::Stub& stub, const std::string& id) {
    stream_req_.set_session_id(id);
    stub.async()->StreamPriceUpdates(&ctx_, &stream_req_, this);
    StartRead(&batch_);
    tsan_release(this);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    tsan_acquire(this);
    if (!ok)
      return;
    ++batches_;
    if (!batch_.snapshot()) {
      auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
      for (auto& u : batch_.updates())
        if (now - u.ts_unix_nanos() > late_ns)
          ++late_;
      updates_ += static_cast<uint64_t>(batch_.updates_size());
    }
    StartRead(&batch_);
  }

  /// Updates (outside snapshots) received so far.
  uint64_t updates() const {
    return updates_;
  }

  /// Updates that arrived more than 250 ms after their `ts`.
  uint64_t late_updates() const {
    return late_;
  }

  void OnDone(const grpc::Status& status) override {
    tsan_acquire(this);
    std::lock_guard<std::mutex> guard{mtx_};
    status_ = status;
    done_ = true;
  }

  void cancel() {
    ctx_.TryCancel();
  }

  size_t batches() const {
    return batches_;
  }

  bool done() {
    std::lock_guard<std::mutex> guard{mtx_};
    return done_;
  }

  grpc::StatusCode code() {
    std::lock_guard<std::mutex> guard{mtx_};
    return status_.error_code();
  }

private:
  grpc::ClientContext ctx_;
  pb::SubscribeRequest sub_req_;
  pb::StreamPriceUpdatesRequest stream_req_;
  pb::PriceBatch batch_;
  static constexpr int64_t late_ns = 250'000'000;
  std::atomic<size_t> batches_{0};
  std::atomic<uint64_t> updates_{0};
  std::atomic<uint64_t> late_{0};
  std::mutex mtx_;
  bool done_ = false;
  grpc::Status status_;
};

/// Streams that are cancelled and awaited when the set goes, so that no
/// reactor is destroyed while gRPC still uses it (e.g. when a test fails).
class streams : public std::vector<std::unique_ptr<churn_stream>> {
public:
  streams() = default;
  streams(const streams&) = delete;
  streams& operator=(const streams&) = delete;
  ~streams();
};

/// Waits until every stream received at least one batch.
bool all_live(const streams& xs, milliseconds timeout);

/// Waits until every stream ended.
bool all_done(const streams& xs, milliseconds timeout);

} // namespace mm::test
