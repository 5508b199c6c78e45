#pragma once

// Several gRPC completion queues, each polled by its own thread.
//
// Debian builds gRPC without NDEBUG, and then every completion searches all
// tags outstanding on its queue, linearly and under the queue's mutex
// (`cq_check_tag`). Spreading calls over N queues makes that search
// O(outstanding / N) instead of O(outstanding) and lets N threads complete
// events at once.

#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

#include <grpcpp/completion_queue.h>

namespace mm::bench {

/// What a completion queue hands back: the object that issued the operation
/// and which operation it was. An object embeds one `cq_tag` per operation
/// it can have outstanding and passes its address as the gRPC tag.
struct cq_tag {
  class cq_handler* owner;
  int op;
};

/// Receives the completions of its tags, always on the thread of the queue
/// the operation was issued on.
class cq_handler {
public:
  virtual ~cq_handler() = default;

  /// Operation `op` completed; `ok` is gRPC's verdict on it.
  virtual void on_event(int op, bool ok) = 0;
};

/// The queues and their threads. `shutdown` (or the destructor) shuts every
/// queue down and drains it; the caller makes sure nothing is outstanding
/// by then, or accepts that what is left completes with ok = false.
class completion_queues {
public:
  /// `thread_name` (at most 15 characters) names the polling threads.
  completion_queues(size_t n, const char* thread_name);

  /// Takes queues the caller made (a server's), each polled by one thread.
  completion_queues(std::vector<std::unique_ptr<grpc::CompletionQueue>> cqs,
                    const char* thread_name);

  ~completion_queues();

  completion_queues(const completion_queues&) = delete;
  completion_queues& operator=(const completion_queues&) = delete;

  size_t size() const {
    return cqs_.size();
  }

  grpc::CompletionQueue* at(size_t i) const {
    return cqs_[i % cqs_.size()].get();
  }

  /// Shuts every queue down, drains it (Next until false) and joins the
  /// threads. Idempotent.
  void shutdown();

private:
  void start(const char* thread_name);

  std::vector<std::unique_ptr<grpc::CompletionQueue>> cqs_;
  std::vector<std::thread> threads_;
  bool shut_down_ = false;
};

} // namespace mm::bench
