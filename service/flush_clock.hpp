#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace mm {

/// Something that writes when its fixed flush interval comes due.
class flush_target {
public:
  virtual ~flush_target() = default;

  /// The flush this target asked for is due. Runs on the clock's thread.
  virtual void flush_due() = 0;
  /// The stall check this target asked for is due (`timer::stall_check`).
  /// Runs on the clock's thread.
  virtual void stall_check_due() {
    // nop
  }
};

/// The timer of every fixed-interval (`flush_interval_ms` > 0) stream of a
/// node: a few shards, each run by a thread sleeping until its next flush is
/// due and then making every flush due by then, back to back, so that the
/// writes of one moment leave together. It replaces a CAF delayed message
/// per session and interval (a wake of CAF's clock thread, then of a
/// worker, then the write's completion back to the session: three thread
/// hops per batch). Several shards, because the flush makes the write, and
/// one thread could not write for thousands of streams every 50 ms.
///
/// Due times are rounded up to the next millisecond, so that the flushes of
/// sessions that started within one millisecond share a wake.
///
/// Threaded (`flush_clock{n}`): a thread of its own per shard. Driven
/// (`flush_clock{n, driven}`, mm-server's): no threads; each shard is run
/// by a thread that has other work (mm-server's completion-queue threads,
/// `completion_queues::start`), which sleeps until `next_due(shard)` at the
/// latest, calls `run_due(shard)`, and is woken through the shard's waker when
/// a flush is scheduled before everything it waits for. So the thread that
/// makes the writes of a queue also takes their completions: one wake instead
/// of two.
class flush_clock {
public:
  using clock = std::chrono::steady_clock;

  /// Tag of the driven constructor.
  struct driven_t {};
  static constexpr driven_t driven{};

  explicit flush_clock(size_t shards = 1);

  flush_clock(size_t shards, driven_t);
  ~flush_clock();
  flush_clock(const flush_clock&) = delete;
  flush_clock& operator=(const flush_clock&) = delete;

  size_t shards() const {
    return shards_.size();
  }

  /// What comes due.
  enum class timer : uint8_t {
    /// `flush_target::flush_due`.
    flush,
    /// `flush_target::stall_check_due`: a stream's write stall check,
    /// which this clock makes instead of a gRPC alarm per stream (an armed
    /// alarm is one more tag that every event of its completion queue
    /// searches in Debian's gRPC).
    stall_check,
  };

  /// Calls `target->flush_due()` (or the call named by `what`) at `due` (or
  /// soon after) on the thread of shard `shard % shards()`, unless the
  /// target is gone by then. A target schedules at most one of each timer
  /// at a time. Timers of targets that are gone are dropped before they come
  /// due once a shard holds twice as many timers as after its last sweep
  /// (and at least `sweep_threshold`): a stream that ended leaves its 30 s
  /// stall check behind, and under churn those would pile up.
  void schedule(clock::time_point due, std::weak_ptr<flush_target> target,
                size_t shard = 0, timer what = timer::flush);

  /// Drops what is scheduled and joins the threads; later schedules are
  /// ignored. Idempotent; the destructor calls it.
  void stop();

  /// Timers scheduled and not yet run (for tests and the inspector).
  size_t pending() const;

  /// The fewest timers a shard holds before it drops those of targets that
  /// are gone.
  static constexpr size_t sweep_threshold = 1024;

  // --- driven clocks ---------------------------------------------------------

  /// Called (on the scheduling thread, under the shard's lock: it must not
  /// call the clock) when a flush is scheduled before every other one of
  /// `shard`: the driving thread must recompute its `next_due`. An empty
  /// function unsets it; it is not called once unset.
  void set_waker(size_t shard, std::function<void()> wake);

  /// When the earliest flush of `shard` is due; time_point::max() if none.
  clock::time_point next_due(size_t shard) const;

  /// Makes every flush of `shard` due by now, on the calling thread.
  void run_due(size_t shard);

private:
  struct entry {
    clock::time_point due;
    std::weak_ptr<flush_target> target;
    timer what;
  };

  struct shard {
    mutable std::mutex mtx;
    std::condition_variable cv;
    /// A min-heap on `due`.
    std::vector<entry> heap;
    /// At this size `schedule` drops the timers of targets that are gone.
    size_t sweep_at = sweep_threshold;
    bool stopped = false;
    std::thread thread;
    std::function<void()> waker;
    /// Timers being run (reused).
    std::vector<std::pair<std::weak_ptr<flush_target>, timer>> due;
  };

  static void run(shard& x);
  /// Drops the timers of targets that are gone once `x.heap` reached
  /// `x.sweep_at` (locked by the caller): amortized O(1) per schedule.
  static void sweep_locked(shard& x);

  /// Moves the targets due by `now` into `x.due` (locked by the caller).
  static void take_due_locked(shard& x, clock::time_point now);

  /// Calls the targets in `x.due` (not locked) and clears it.
  static void flush_taken(shard& x);

  std::vector<std::unique_ptr<shard>> shards_;
};

} // namespace mm
