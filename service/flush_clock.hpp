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
/// node: one thread that sleeps until the next flush is due and then makes
/// every flush due by then, back to back, so that the writes of one moment
/// leave together. It replaces a CAF delayed message per session and
/// interval (a wake of CAF's clock thread, then of a worker, then the
/// write's completion back to the session: three thread hops per batch).
///
/// Due times are rounded up to the next millisecond, so that the flushes of
/// sessions that started within one millisecond share a wake.
class flush_clock {
public:
  using clock = std::chrono::steady_clock;

  flush_clock();
  ~flush_clock();
  flush_clock(const flush_clock&) = delete;
  flush_clock& operator=(const flush_clock&) = delete;

  /// Calls `target->flush_due()` at `due` (or soon after), unless the
  /// target is gone by then. A target schedules at most one flush at a time.
  void schedule(clock::time_point due, std::weak_ptr<flush_target> target);

  /// Drops what is scheduled and joins the thread; later schedules are
  /// ignored. Idempotent; the destructor calls it.
  void stop();

  /// Flushes scheduled and not yet made (for tests and the inspector).
  size_t pending() const;

private:
  struct entry {
    clock::time_point due;
    std::weak_ptr<flush_target> target;
  };

  void run();

  mutable std::mutex mtx_;
  std::condition_variable cv_;
  /// A min-heap on `due`.
  std::vector<entry> heap_;
  bool stopped_ = false;
  std::thread thread_;
};

} // namespace mm
