#include "bench/churn.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

#include <grpcpp/alarm.h>

#include "bench/clock.hpp"
#include "bench/stream_client.hpp"

namespace mm::bench {

namespace pb = marketmonitor::v1;

namespace {

const char* kind_name(churn_kind k) {
  switch (k) {
    case churn_kind::cancel: return "cancel";
    case churn_kind::deadline: return "deadline";
    case churn_kind::stop: return "stop";
    case churn_kind::stop_unattached: return "stop-before-attach";
    default: return "abandon";
  }
}

/// One churn session. Every operation of it completes on its one queue, so
/// its handlers never run at once; it deletes itself when the last one is
/// back.
class churn_call final : public cq_handler {
public:
  churn_call(churn_driver& driver, pb::MarketMonitor::Stub& stub,
             grpc::CompletionQueue* cq, churn_kind kind,
             pb::SubscribeRequest req, int64_t hold_ns)
    : driver_(driver),
      stub_(stub),
      cq_(cq),
      kind_(kind),
      req_(std::move(req)),
      hold_ns_(hold_ns) {
    for (int i = 0; i < n_ops; ++i)
      tags_[i] = cq_tag{this, i};
  }

  /// Hands the session to its queue's thread: an alarm due now.
  void start() {
    begin_alarm_.Set(cq_, gpr_now(GPR_CLOCK_MONOTONIC), issue(op_begin));
  }

  void on_event(int op, bool ok) override {
    switch (op) {
      case op_begin: begin(); break;
      case op_started: on_started(); break;
      case op_call:
      case op_read:
        if (ok)
          reader_->Read(&batch_, issue(op_read));
        else
          reader_->Finish(&status_, issue(op_finished));
        break;
      case op_finished: finish(status_); break;
      case op_hold:
        // The hold is over.
        if (kind_ == churn_kind::cancel)
          ctx_.TryCancel();
        else
          stop();
        break;
      case op_stopped:
        // With a stream, its end is the result; without, the Stop is. A
        // failed Stop leaves the stream open: cancel it.
        if (kind_ == churn_kind::stop_unattached) {
          finish(stop_status_);
        } else if (!stop_status_.ok()) {
          finish(stop_status_, "(stop rpc)");
          ctx_.TryCancel();
        }
        break;
      default: break;
    }
    if (outstanding_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      auto& driver = driver_;
      delete this;
      driver.gone();
    }
  }

private:
  enum op : int {
    op_begin,
    op_started,
    op_call,
    op_read,
    op_finished,
    op_hold,
    op_stopped,
    n_ops,
  };

  void* issue(op x) {
    outstanding_.fetch_add(1, std::memory_order_relaxed);
    return &tags_[x];
  }

  void begin() {
    switch (kind_) {
      case churn_kind::deadline:
        ctx_.set_deadline(std::chrono::system_clock::now()
                          + std::chrono::nanoseconds{hold_ns_});
        [[fallthrough]];
      case churn_kind::cancel:
        reader_ = stub_.PrepareAsyncSubscribe(&ctx_, req_, cq_);
        reader_->StartCall(issue(op_call));
        if (kind_ == churn_kind::cancel)
          hold();
        return;
      default: break;
    }
    *start_req_.mutable_tickers() = req_.tickers();
    start_rpc_ = stub_.PrepareAsyncStartPriceMonitoring(&start_ctx_, start_req_,
                                                        cq_);
    start_rpc_->StartCall();
    start_rpc_->Finish(&start_resp_, &start_status_, issue(op_started));
  }

  void on_started() {
    const auto& st = start_status_;
    if (!st.ok() || kind_ == churn_kind::abandon) {
      finish(st, st.ok() ? "" : "(start rpc)");
      return;
    }
    attach_req_.set_session_id(start_resp_.session_id());
    if (kind_ == churn_kind::stop_unattached) {
      stop();
      return;
    }
    reader_ = stub_.PrepareAsyncStreamPriceUpdates(&ctx_, attach_req_, cq_);
    reader_->StartCall(issue(op_call));
    hold();
  }

  void hold() {
    hold_alarm_.Set(cq_,
                    std::chrono::system_clock::now()
                      + std::chrono::nanoseconds{hold_ns_},
                    issue(op_hold));
  }

  void stop() {
    stop_req_.set_session_id(attach_req_.session_id());
    stop_rpc_ = stub_.PrepareAsyncStopPriceMonitoring(&stop_ctx_, stop_req_,
                                                      cq_);
    stop_rpc_->StartCall();
    stop_rpc_->Finish(&stop_resp_, &stop_status_, issue(op_stopped));
  }

  /// Records the session's result once.
  void finish(const grpc::Status& st, const char* where = "") {
    if (!finished_) {
      finished_ = true;
      driver_.finished(kind_, where, st);
    }
  }

  churn_driver& driver_;
  pb::MarketMonitor::Stub& stub_;
  grpc::CompletionQueue* const cq_;
  const churn_kind kind_;
  pb::SubscribeRequest req_;
  const int64_t hold_ns_;
  cq_tag tags_[n_ops];
  std::atomic<int> outstanding_{0};
  bool finished_ = false;
  grpc::Alarm begin_alarm_;
  grpc::Alarm hold_alarm_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientAsyncReader<pb::PriceBatch>> reader_;
  pb::PriceBatch batch_;
  grpc::Status status_;
  grpc::ClientContext start_ctx_;
  pb::StartPriceMonitoringRequest start_req_;
  pb::StartPriceMonitoringResponse start_resp_;
  grpc::Status start_status_;
  std::unique_ptr<
    grpc::ClientAsyncResponseReader<pb::StartPriceMonitoringResponse>>
    start_rpc_;
  pb::StreamPriceUpdatesRequest attach_req_;
  grpc::ClientContext stop_ctx_;
  pb::StopPriceMonitoringRequest stop_req_;
  pb::StopPriceMonitoringResponse stop_resp_;
  grpc::Status stop_status_;
  std::unique_ptr<
    grpc::ClientAsyncResponseReader<pb::StopPriceMonitoringResponse>>
    stop_rpc_;
};

} // namespace

churn_driver::churn_driver(
  const options& opts, stubs_type& stubs, completion_queues& cqs,
  std::function<pb::SubscribeRequest(uint64_t)> make_req)
  : opts_(opts), stubs_(stubs), cqs_(cqs), make_req_(std::move(make_req)) {
  // nop
}

void churn_driver::finished(churn_kind k, const char* where,
                            const grpc::Status& st) {
  std::lock_guard<std::mutex> guard{mtx_};
  ++results_[std::string{kind_name(k)} + where + ":"
             + code_name(st.error_code())];
  --in_flight_;
  ++completed_;
}

std::map<std::string, uint64_t> churn_driver::results() {
  std::lock_guard<std::mutex> guard{mtx_};
  return results_;
}

uint64_t churn_driver::completed() {
  std::lock_guard<std::mutex> guard{mtx_};
  return completed_;
}

bool churn_driver::run(double timeout_s) {
  auto t0 = mono_ns();
  auto deadline = t0 + static_cast<int64_t>(timeout_s * 1e9);
  auto hold = static_cast<int64_t>(opts_.churn_hold_ms) * 1'000'000;
  uint64_t started = 0;
  static constexpr churn_kind kinds[] = {churn_kind::cancel,
                                         churn_kind::deadline, churn_kind::stop,
                                         churn_kind::stop_unattached,
                                         churn_kind::abandon};
  for (;;) {
    uint64_t room = 0;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (completed_ == opts_.churn)
        break;
      if (in_flight_ < opts_.churn_concurrency)
        room = std::min(opts_.churn_concurrency - in_flight_,
                        opts_.churn - started);
      in_flight_ += room;
    }
    for (uint64_t i = 0; i < room; ++i, ++started) {
      live_.fetch_add(1, std::memory_order_relaxed);
      (new churn_call(*this, *stubs_[started % stubs_.size()], cqs_.at(started),
                      kinds[started % 5], make_req_(started), hold))
        ->start();
    }
    if (mono_ns() > deadline) {
      seconds = seconds_since(t0);
      return false;
    }
    if (room == 0)
      sleep_for_ms(1);
  }
  seconds = seconds_since(t0);
  // Every session has its result; some still have a completion to come
  // (the stream of a failed Stop), and the queues must outlive them.
  while (live_.load(std::memory_order_acquire) > 0 && mono_ns() < deadline)
    sleep_for_ms(1);
  return live_.load(std::memory_order_acquire) == 0;
}

} // namespace mm::bench
