#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace grpc {
class Alarm;
class ServerBuilder;
class ServerCompletionQueue;
} // namespace grpc

namespace mm {

class flush_clock;

/// What a completion-queue thread hands a completed operation to: every tag
/// given to gRPC's async API on a `completion_queues` queue is one of these.
class cq_tag {
public:
  /// `ok` is gRPC's success flag of the completed operation.
  virtual void proceed(bool ok) = 0;

protected:
  ~cq_tag() = default;
};

/// The completion queues of the streaming calls, each polled by a thread of
/// its own. Why several: Debian builds gRPC without NDEBUG, and then every
/// completion searches the tags outstanding on its queue (`cq_check_tag`, a
/// linear search under the queue's lock); with gRPC's callback API all calls
/// of the process share one queue, so each event costs O(open streams) and
/// serialises the process. Spread over N queues, an event searches the
/// calls of one queue and queues do not wait for each other.
class completion_queues {
public:
  /// Adds `n` queues to `builder` (before BuildAndStart).
  completion_queues(grpc::ServerBuilder& builder, size_t n);
  ~completion_queues();
  completion_queues(const completion_queues&) = delete;
  completion_queues& operator=(const completion_queues&) = delete;

  size_t size() const {
    return queues_.size();
  }

  grpc::ServerCompletionQueue& at(size_t i) {
    return *queues_[i];
  }

  /// Starts one thread per queue; each hands every event to its `cq_tag`.
  /// With a driven `clock` (one shard per queue), thread i also makes the
  /// flushes of shard i: it waits for its queue's next event at most until
  /// the shard's next flush is due, and a flush scheduled before that wakes
  /// it through an alarm on its queue.
  void start(flush_clock* clock = nullptr);

  /// Shuts the queues down and joins their threads once the queues are
  /// drained. Call after the server's Shutdown returned. Idempotent.
  void stop();

private:
  /// Wakes a queue's thread: an alarm set to now on its queue.
  struct waker;

  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues_;
  std::vector<std::unique_ptr<waker>> wakers_;
  flush_clock* clock_ = nullptr;
  std::vector<std::thread> threads_;
  bool stopped_ = false;
};

} // namespace mm
