#include "service/flush_clock.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include <pthread.h>

namespace mm {

namespace {

/// Orders the heap so that the earliest due time is at the front.
constexpr auto later = [](const auto& x, const auto& y) {
  return x.due > y.due;
};

} // namespace

flush_clock::flush_clock(size_t shards) {
  shards_.reserve(std::max<size_t>(1, shards));
  for (size_t i = 0; i < std::max<size_t>(1, shards); ++i) {
    shards_.push_back(std::make_unique<shard>());
    auto& x = *shards_.back();
    x.thread = std::thread([&x, i] {
      auto name = "mm.flush." + std::to_string(i);
      pthread_setname_np(pthread_self(), name.c_str());
      run(x);
    });
  }
}

flush_clock::flush_clock(size_t shards, driven_t) {
  shards_.reserve(std::max<size_t>(1, shards));
  for (size_t i = 0; i < std::max<size_t>(1, shards); ++i)
    shards_.push_back(std::make_unique<shard>());
}

flush_clock::~flush_clock() {
  stop();
}

void flush_clock::schedule(clock::time_point due,
                           std::weak_ptr<flush_target> target, size_t shard,
                           timer what) {
  using std::chrono::milliseconds;
  auto since = std::chrono::ceil<milliseconds>(due.time_since_epoch());
  due = clock::time_point{since};
  auto& x = *shards_[shard % shards_.size()];
  bool wake;
  {
    std::lock_guard<std::mutex> guard{x.mtx};
    if (x.stopped)
      return;
    // The thread sleeps until the current front: wake it only for an
    // earlier one (most flushes are due after everything already waiting).
    wake = x.heap.empty() || due < x.heap.front().due;
    sweep_locked(x);
    x.heap.push_back(entry{due, std::move(target), what});
    std::push_heap(x.heap.begin(), x.heap.end(), later);
    // Driven: under the lock, so that a waker that was unset (its thread
    // stopped) is never called afterwards.
    if (wake && x.waker) {
      x.waker();
      return;
    }
  }
  if (wake)
    x.cv.notify_one();
}

void flush_clock::set_waker(size_t shard, std::function<void()> wake) {
  auto& x = *shards_[shard % shards_.size()];
  std::lock_guard<std::mutex> guard{x.mtx};
  x.waker = std::move(wake);
}

flush_clock::clock::time_point flush_clock::next_due(size_t shard) const {
  auto& x = *shards_[shard % shards_.size()];
  std::lock_guard<std::mutex> guard{x.mtx};
  return x.heap.empty() ? clock::time_point::max() : x.heap.front().due;
}

void flush_clock::run_due(size_t shard) {
  auto& x = *shards_[shard % shards_.size()];
  {
    std::lock_guard<std::mutex> guard{x.mtx};
    if (x.stopped || x.heap.empty())
      return;
    take_due_locked(x, clock::now());
  }
  flush_taken(x);
}

void flush_clock::sweep_locked(shard& x) {
  if (x.heap.size() < x.sweep_at)
    return;
  // A target that is gone keeps its heap entry (and, for a target made by
  // make_shared, the target's memory) until the entry comes due.
  x.heap.erase(std::remove_if(x.heap.begin(), x.heap.end(),
                              [](const entry& e) {
                                return e.target.expired();
                              }),
               x.heap.end());
  std::make_heap(x.heap.begin(), x.heap.end(), later);
  x.sweep_at = std::max(sweep_threshold, 2 * x.heap.size());
}

void flush_clock::take_due_locked(shard& x, clock::time_point now) {
  while (!x.heap.empty() && x.heap.front().due <= now) {
    std::pop_heap(x.heap.begin(), x.heap.end(), later);
    auto& e = x.heap.back();
    x.due.emplace_back(std::move(e.target), e.what);
    x.heap.pop_back();
  }
}

void flush_clock::flush_taken(shard& x) {
  for (auto& [t, what] : x.due) {
    auto target = t.lock();
    if (!target)
      continue;
    if (what == timer::flush)
      target->flush_due();
    else
      target->stall_check_due();
  }
  x.due.clear();
}

void flush_clock::stop() {
  for (auto& x : shards_) {
    {
      std::lock_guard<std::mutex> guard{x->mtx};
      if (x->stopped)
        continue;
      x->stopped = true;
      x->heap.clear();
    }
    x->cv.notify_one();
    if (x->thread.joinable())
      x->thread.join();
  }
}

size_t flush_clock::pending() const {
  size_t result = 0;
  for (auto& x : shards_) {
    std::lock_guard<std::mutex> guard{x->mtx};
    result += x->heap.size();
  }
  return result;
}

void flush_clock::run(shard& x) {
  std::unique_lock<std::mutex> guard{x.mtx};
  for (;;) {
    if (x.stopped)
      return;
    if (x.heap.empty()) {
      x.cv.wait(guard);
      continue;
    }
    auto next = x.heap.front().due;
    if (clock::now() < next) {
      x.cv.wait_until(guard, next);
      continue;
    }
    take_due_locked(x, clock::now());
    guard.unlock();
    flush_taken(x);
    guard.lock();
  }
}

} // namespace mm
