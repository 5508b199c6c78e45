#include "service/completion_queues.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>

#include <string>

#include <pthread.h>

#include <grpc/support/time.h>
#include <grpcpp/alarm.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/server_builder.h>

#include "service/flush_clock.hpp"

namespace mm {

completion_queues::completion_queues(grpc::ServerBuilder& builder, size_t n) {
  queues_.reserve(n);
  for (size_t i = 0; i < n; ++i)
    queues_.push_back(builder.AddCompletionQueue());
}

/// One per queue of a driven clock. The alarm can be set again only once
/// its last setting completed (`pending` false), and not on a queue that
/// is shutting down.
struct completion_queues::waker final : cq_tag {
  std::mutex mtx;
  grpc::Alarm alarm;
  bool pending = false;
  bool stopped = false;

  void wake(grpc::ServerCompletionQueue* cq) {
    std::lock_guard<std::mutex> guard{mtx};
    if (pending || stopped)
      return;
    pending = true;
    alarm.Set(cq, gpr_now(GPR_CLOCK_MONOTONIC), this);
  }

  void proceed(bool) override {
    std::lock_guard<std::mutex> guard{mtx};
    pending = false;
  }
};

completion_queues::~completion_queues() {
  stop();
}

namespace {

/// Serves queue `cq` until it is shut down and drained.
void serve(grpc::ServerCompletionQueue* cq) {
  void* tag = nullptr;
  bool ok = false;
  while (cq->Next(&tag, &ok))
    static_cast<cq_tag*>(tag)->proceed(ok);
}

/// Serves queue `cq` and makes the flushes of `shard` of `clock`.
void serve(grpc::ServerCompletionQueue* cq, flush_clock* clock, size_t shard) {
  using grpc::CompletionQueue;
  void* tag = nullptr;
  bool ok = false;
  for (;;) {
    auto due = clock->next_due(shard);
    auto deadline = gpr_inf_future(GPR_CLOCK_MONOTONIC);
    if (due != flush_clock::clock::time_point::max()) {
      auto left = due - flush_clock::clock::now();
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left);
      deadline = gpr_time_add(
        gpr_now(GPR_CLOCK_MONOTONIC),
        gpr_time_from_nanos(std::max<int64_t>(0, ns.count()), GPR_TIMESPAN));
    }
    switch (cq->AsyncNext(&tag, &ok, deadline)) {
      case CompletionQueue::SHUTDOWN: return;
      case CompletionQueue::GOT_EVENT:
        static_cast<cq_tag*>(tag)->proceed(ok);
        break;
      case CompletionQueue::TIMEOUT: break;
    }
    // Most events come before the next flush: no need to lock the shard.
    // A flush scheduled earlier meanwhile woke us (its alarm is an event),
    // and the next round reads it.
    if (due != flush_clock::clock::time_point::max()
        && flush_clock::clock::now() >= due)
      clock->run_due(shard);
  }
}

} // namespace

void completion_queues::start(flush_clock* clock) {
  for (size_t i = 0; i < queues_.size(); ++i) {
    auto* cq = queues_[i].get();
    clock_ = clock;
    if (clock != nullptr) {
      wakers_.push_back(std::make_unique<waker>());
      clock->set_waker(i, [w = wakers_.back().get(), cq] { w->wake(cq); });
    }
    threads_.emplace_back([cq, clock, i] {
      // Named, so that top -H and perf tell the queues apart.
      auto name = "mm.cq." + std::to_string(i);
      pthread_setname_np(pthread_self(), name.c_str());
      if (clock != nullptr)
        serve(cq, clock, i);
      else
        serve(cq);
    });
  }
}

void completion_queues::stop() {
  if (stopped_)
    return;
  stopped_ = true;
  bool polled = !threads_.empty();
  // No alarm may be set on a queue that shuts down, and the clock must
  // not call a waker that is about to be destroyed.
  for (size_t i = 0; i < wakers_.size(); ++i) {
    clock_->set_waker(i, nullptr);
    std::lock_guard<std::mutex> guard{wakers_[i]->mtx};
    wakers_[i]->stopped = true;
  }
  for (auto& q : queues_)
    q->Shutdown();
  for (auto& t : threads_)
    t.join();
  threads_.clear();
  if (polled)
    return;
  // A queue must be drained before it is destroyed; one that never had a
  // thread still holds the cancelled requests of the shut-down server.
  for (auto& q : queues_) {
    void* tag = nullptr;
    bool ok = false;
    while (q->Next(&tag, &ok))
      static_cast<cq_tag*>(tag)->proceed(ok);
  }
}

} // namespace mm
