#include "bench/stream_client.hpp"

#include <algorithm>

#include "bench/clock.hpp"

namespace mm::bench {

namespace pb = marketmonitor::v1;

const char* code_name(grpc::StatusCode code) {
  switch (code) {
    case grpc::OK: return "OK";
    case grpc::CANCELLED: return "CANCELLED";
    case grpc::UNKNOWN: return "UNKNOWN";
    case grpc::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::NOT_FOUND: return "NOT_FOUND";
    case grpc::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::ABORTED: return "ABORTED";
    case grpc::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::INTERNAL: return "INTERNAL";
    case grpc::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::DATA_LOSS: return "DATA_LOSS";
    case grpc::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "CODE_UNKNOWN";
  }
}

void population::count(std::map<std::string, uint64_t>& where,
                       const std::string& key, const grpc::Status& st) {
  std::lock_guard<std::mutex> guard{mtx};
  ++where[key];
  if (!st.ok() && !st.error_message().empty())
    messages.emplace(code_name(st.error_code()), st.error_message());
}

bench_stream::bench_stream(population& pop, stub_type& stub,
                           grpc::CompletionQueue* cq, pb::SubscribeRequest req,
                           bool start_stream)
  : pop_(pop),
    stub_(stub),
    cq_(cq),
    req_(std::move(req)),
    start_stream_(start_stream) {
  for (int i = 0; i < 6; ++i)
    tags_[i] = cq_tag{this, i};
}

void* bench_stream::issue(op x) {
  pop_.ops_in_flight.fetch_add(1, std::memory_order_relaxed);
  return &tags_[x];
}

void bench_stream::start() {
  // Touches nothing after handing its first operation to gRPC: from then on
  // the stream belongs to its queue's thread.
  if (!start_stream_) {
    open_stream();
    return;
  }
  *start_req_.mutable_tickers() = req_.tickers();
  *start_req_.mutable_options() = req_.options();
  start_rpc_ = stub_.PrepareAsyncStartPriceMonitoring(&start_ctx_, start_req_,
                                                      cq_);
  start_rpc_->StartCall();
  start_rpc_->Finish(&start_resp_, &start_status_, issue(op_started));
}

void bench_stream::end() {
  // An alarm due now: on_end runs on the stream's queue, after whatever the
  // stream is handling.
  end_alarm_.Set(cq_, gpr_now(GPR_CLOCK_MONOTONIC), issue(op_end));
}

void bench_stream::on_event(int op, bool ok) {
  // Once ops_in_flight is 0 the owner may destroy us: that is the last step.
  auto& pop = pop_;
  switch (op) {
    case op_started:
      if (!start_status_.ok()) {
        pop_.count(pop_.unary_failures,
                   std::string{"start:"}
                     + code_name(start_status_.error_code()),
                   start_status_);
        pop_.count(pop_.early_end, code_name(start_status_.error_code()),
                   start_status_);
        state_ = done;
        pop_.done.fetch_add(1);
        break;
      }
      attach_req_.set_session_id(start_resp_.session_id());
      if (ended_by_us_) {
        // Too late: the run is over. The server's attach timeout ends it.
        state_ = done;
        pop_.done.fetch_add(1);
        break;
      }
      state_ = streaming;
      open_stream();
      break;
    case op_call:
    case op_read:
      // One Read at a time; a failed one means the call is over.
      if (!ok) {
        reader_->Finish(&status_, issue(op_finished));
        break;
      }
      if (op == op_read)
        on_batch();
      reader_->Read(&batch_, issue(op_read));
      break;
    case op_finished: finish(); break;
    case op_end: on_end(); break;
    case op_stopped:
      if (!stop_status_.ok())
        pop_.count(pop_.unary_failures,
                   std::string{"stop:"} + code_name(stop_status_.error_code()),
                   stop_status_);
      pop_.stops_in_flight.fetch_sub(1);
      break;
    default: break;
  }
  pop.ops_in_flight.fetch_sub(1, std::memory_order_acq_rel);
}

void bench_stream::open_stream() {
  if (start_stream_)
    reader_ = stub_.PrepareAsyncStreamPriceUpdates(&ctx_, attach_req_, cq_);
  else
    reader_ = stub_.PrepareAsyncSubscribe(&ctx_, req_, cq_);
  reader_->StartCall(issue(op_call));
}

void bench_stream::on_end() {
  ended_by_us_ = true;
  if (!start_stream_) {
    ctx_.TryCancel();
    return;
  }
  if (state_ != streaming)
    return;
  stop_req_.set_session_id(attach_req_.session_id());
  pop_.stops_in_flight.fetch_add(1);
  stop_rpc_ = stub_.PrepareAsyncStopPriceMonitoring(&stop_ctx_, stop_req_, cq_);
  stop_rpc_->StartCall();
  stop_rpc_->Finish(&stop_resp_, &stop_status_, issue(op_stopped));
}

void bench_stream::on_batch() {
  auto now = real_ns();
  auto begin = pop_.window_begin.load(std::memory_order_relaxed);
  auto end = pop_.window_end.load(std::memory_order_relaxed);
  thread_local std::vector<int64_t> latencies;
  latencies.clear();
  uint64_t conflated = 0;
  uint64_t gaps = 0;
  for (const auto& x : batch_.updates()) {
    // Consecutive updates of a ticker: seq may only skip what `conflated`
    // says was merged; anything more was lost.
    auto& last = last_seq(x.ticker());
    if (last != 0 && x.seq() > last + 1 + x.conflated())
      gaps += x.seq() - last - 1 - x.conflated();
    last = std::max<uint64_t>(last, x.seq());
    auto ts = x.ts_unix_nanos();
    if (ts >= begin && ts < end) {
      latencies.push_back(now - ts);
      conflated += x.conflated();
    }
  }
  if (gaps > 0)
    pop_.seq_gaps.fetch_add(gaps, std::memory_order_relaxed);
  auto n = static_cast<uint64_t>(batch_.updates_size());
  pop_.updates_total.fetch_add(n, std::memory_order_relaxed);
  pop_.batches_total.fetch_add(1, std::memory_order_relaxed);
  if (!latencies.empty()) {
    pop_.latency.record(latencies.data(), latencies.size());
    pop_.updates_window.fetch_add(latencies.size(), std::memory_order_relaxed);
    pop_.conflated_window.fetch_add(conflated, std::memory_order_relaxed);
    pop_.batches_window.fetch_add(1, std::memory_order_relaxed);
  }
  if (!confirmed_) {
    confirmed_ = true;
    pop_.confirmed.fetch_add(1);
    auto t = mono_ns();
    auto prev = pop_.last_confirm_mono.load();
    while (t > prev && !pop_.last_confirm_mono.compare_exchange_weak(prev, t))
      ; // retry
  }
}

void bench_stream::finish() {
  pop_.count(ended_by_us_ ? pop_.end_status : pop_.early_end,
             code_name(status_.error_code()), status_);
  state_ = done;
  pop_.done.fetch_add(1);
}

uint64_t& bench_stream::last_seq(const std::string& ticker) {
  for (auto& [name, seq] : seqs_)
    if (name == ticker)
      return seq;
  return seqs_.emplace_back(ticker, 0).second;
}

} // namespace mm::bench
