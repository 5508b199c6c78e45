#include "bench/completion_queues.hpp"

#include <pthread.h>

#include <utility>

namespace mm::bench {

completion_queues::completion_queues(size_t n, const char* thread_name) {
  for (size_t i = 0; i < n; ++i)
    cqs_.push_back(std::make_unique<grpc::CompletionQueue>());
  start(thread_name);
}

completion_queues::completion_queues(
  std::vector<std::unique_ptr<grpc::CompletionQueue>> cqs,
  const char* thread_name)
  : cqs_(std::move(cqs)) {
  start(thread_name);
}

completion_queues::~completion_queues() {
  shutdown();
}

void completion_queues::start(const char* thread_name) {
  for (auto& cq : cqs_) {
    threads_.emplace_back([q = cq.get()] {
      void* tag = nullptr;
      bool ok = false;
      // Next returns false only once the queue is shut down and drained.
      while (q->Next(&tag, &ok)) {
        auto* t = static_cast<cq_tag*>(tag);
        t->owner->on_event(t->op, ok);
      }
    });
    pthread_setname_np(threads_.back().native_handle(), thread_name);
  }
}

void completion_queues::shutdown() {
  if (shut_down_)
    return;
  shut_down_ = true;
  for (auto& cq : cqs_)
    cq->Shutdown();
  for (auto& t : threads_)
    if (t.joinable())
      t.join();
}

} // namespace mm::bench
