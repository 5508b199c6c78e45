#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace mm {

/// Something that writes when its fixed flush interval comes due.
class flush_target {
public:
  virtual ~flush_target() = default;

  /// The flush this target asked for is due. Runs on the clock's thread.
  virtual void flush_due() = 0;
};

/// The timer of every fixed-interval (`flush_interval_ms` > 0) stream of a
/// node: a few threads (shards), each sleeping until its next flush is due
/// and then making every flush due by then, back to back, so that the
/// writes of one moment leave together. It replaces a CAF delayed message
/// per session and interval (a wake of CAF's clock thread, then of a
/// worker, then the write's completion back to the session: three thread
/// hops per batch). Several shards, because the flush makes the write, and
/// one thread could not write for thousands of streams every 50 ms.
///
/// Due times are rounded up to the next millisecond, so that the flushes of
/// sessions that started within one millisecond share a wake.
class flush_clock {
public:
  using clock = std::chrono::steady_clock;

  explicit flush_clock(size_t shards = 1);
  ~flush_clock();
  flush_clock(const flush_clock&) = delete;
  flush_clock& operator=(const flush_clock&) = delete;

  size_t shards() const {
    return shards_.size();
  }

  /// Calls `target->flush_due()` at `due` (or soon after) on the thread of
  /// shard `shard % shards()`, unless the target is gone by then. A target
  /// schedules at most one flush at a time.
  void schedule(clock::time_point due, std::weak_ptr<flush_target> target,
                size_t shard = 0);

  /// Drops what is scheduled and joins the threads; later schedules are
  /// ignored. Idempotent; the destructor calls it.
  void stop();

  /// Flushes scheduled and not yet made (for tests and the inspector).
  size_t pending() const;

private:
  struct entry {
    clock::time_point due;
    std::weak_ptr<flush_target> target;
  };

  struct shard {
    mutable std::mutex mtx;
    std::condition_variable cv;
    /// A min-heap on `due`.
    std::vector<entry> heap;
    bool stopped = false;
    std::thread thread;
  };

  static void run(shard& x);

  std::vector<std::unique_ptr<shard>> shards_;
};

} // namespace mm
