#pragma once

// The measured client population: one `bench_stream` per session, on the
// completion-queue (async) API. A stream has at most one operation of its
// call outstanding (start, then one Read at a time, then Finish), plus the
// unary calls of its session and the alarm that ends it; all of them
// complete on the stream's own queue, so its handlers never run at once.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>

#include "bench/completion_queues.hpp"
#include "bench/latency_histogram.hpp"
#include "marketmonitor/v1/market_monitor.grpc.pb.h"

namespace mm::bench {

/// The name of a gRPC status code, as the report spells it.
const char* code_name(grpc::StatusCode code);

/// Counters shared by every stream. Streams add once per batch.
struct population {
  latency_histogram latency;
  /// Updates count as delivered when their `ts` falls into the window.
  std::atomic<int64_t> window_begin{INT64_MAX};
  std::atomic<int64_t> window_end{INT64_MAX};
  std::atomic<uint64_t> updates_total{0};
  std::atomic<uint64_t> updates_window{0};
  std::atomic<uint64_t> conflated_window{0};
  std::atomic<uint64_t> batches_window{0};
  std::atomic<uint64_t> batches_total{0};
  /// Streams that received their first batch, and the last time one did.
  std::atomic<uint64_t> confirmed{0};
  std::atomic<int64_t> last_confirm_mono{0};
  /// Sessions whose stream (or start) completed, for whatever reason.
  std::atomic<uint64_t> done{0};
  /// StopPriceMonitoring calls not yet answered.
  std::atomic<uint64_t> stops_in_flight{0};
  /// Operations (tags) of any stream outstanding on a completion queue;
  /// a stream may be destroyed only once this is 0.
  std::atomic<uint64_t> ops_in_flight{0};

  std::mutex mtx;
  /// Streams that ended before we ended them, by status code.
  std::map<std::string, uint64_t> early_end;
  /// How streams ended after we ended them, by status code.
  std::map<std::string, uint64_t> end_status;
  /// StartPriceMonitoring / StopPriceMonitoring failures, by status code.
  std::map<std::string, uint64_t> unary_failures;
  /// The first error message seen per status code, to tell causes apart.
  std::map<std::string, std::string> messages;
  /// Updates whose seq skipped more ticks than their `conflated` says.
  std::atomic<uint64_t> seq_gaps{0};

  void count(std::map<std::string, uint64_t>& where, const std::string& key,
             const grpc::Status& st = grpc::Status::OK);
};

/// One session of the measured population: a Subscribe stream, or a
/// StartPriceMonitoring followed by a StreamPriceUpdates stream.
class bench_stream final : public cq_handler {
public:
  using stub_type = marketmonitor::v1::MarketMonitor::Stub;

  bench_stream(population& pop, stub_type& stub, grpc::CompletionQueue* cq,
               marketmonitor::v1::SubscribeRequest req, bool start_stream);

  /// Starts the session; call once, from any thread.
  void start();

  /// Ends the session the way its mode does: cancel the Subscribe call, or
  /// StopPriceMonitoring (the stream then ends with OK). Call once, from any
  /// thread; the work happens on the stream's queue.
  void end();

  bool finished() const {
    return state_ == done;
  }

  void on_event(int op, bool ok) override;

private:
  enum op : int {
    op_started,  // StartPriceMonitoring answered
    op_call,     // the stream's call started
    op_read,     // a Read completed
    op_finished, // the stream's status is in
    op_end,      // end() was called
    op_stopped,  // StopPriceMonitoring answered
  };

  enum state { starting, streaming, done };

  /// Counts an operation outstanding; `tags_[x]` goes to gRPC.
  void* issue(op x);

  void open_stream();
  void on_batch();
  void on_end();
  void finish();

  /// The last seq seen of `ticker` (0: none yet); a session holds few.
  uint64_t& last_seq(const std::string& ticker);

  std::vector<std::pair<std::string, uint64_t>> seqs_;

  population& pop_;
  stub_type& stub_;
  grpc::CompletionQueue* const cq_;
  marketmonitor::v1::SubscribeRequest req_;
  const bool start_stream_;
  cq_tag tags_[6];
  std::atomic<int> state_{starting};
  bool ended_by_us_ = false;
  bool confirmed_ = false;
  grpc::Alarm end_alarm_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientAsyncReader<marketmonitor::v1::PriceBatch>>
    reader_;
  marketmonitor::v1::PriceBatch batch_;
  grpc::Status status_;
  grpc::ClientContext start_ctx_;
  marketmonitor::v1::StartPriceMonitoringRequest start_req_;
  marketmonitor::v1::StartPriceMonitoringResponse start_resp_;
  grpc::Status start_status_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<
    marketmonitor::v1::StartPriceMonitoringResponse>>
    start_rpc_;
  marketmonitor::v1::StreamPriceUpdatesRequest attach_req_;
  grpc::ClientContext stop_ctx_;
  marketmonitor::v1::StopPriceMonitoringRequest stop_req_;
  marketmonitor::v1::StopPriceMonitoringResponse stop_resp_;
  grpc::Status stop_status_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<
    marketmonitor::v1::StopPriceMonitoringResponse>>
    stop_rpc_;
};

} // namespace mm::bench
