#include "service/completion_queues.hpp"

#include <grpcpp/completion_queue.h>
#include <grpcpp/server_builder.h>

namespace mm {

completion_queues::completion_queues(grpc::ServerBuilder& builder, size_t n) {
  queues_.reserve(n);
  for (size_t i = 0; i < n; ++i)
    queues_.push_back(builder.AddCompletionQueue());
}

completion_queues::~completion_queues() {
  stop();
}

void completion_queues::start() {
  for (auto& q : queues_)
    threads_.emplace_back([cq = q.get()] {
      void* tag = nullptr;
      bool ok = false;
      while (cq->Next(&tag, &ok))
        static_cast<cq_tag*>(tag)->proceed(ok);
    });
}

void completion_queues::stop() {
  if (stopped_)
    return;
  stopped_ = true;
  bool polled = !threads_.empty();
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
