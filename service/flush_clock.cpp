#include "service/flush_clock.hpp"

#include <algorithm>
#include <utility>

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
    x.thread = std::thread([&x] { run(x); });
  }
}

flush_clock::~flush_clock() {
  stop();
}

void flush_clock::schedule(clock::time_point due,
                           std::weak_ptr<flush_target> target, size_t shard) {
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
    x.heap.push_back(entry{due, std::move(target)});
    std::push_heap(x.heap.begin(), x.heap.end(), later);
  }
  if (wake)
    x.cv.notify_one();
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
  std::vector<std::weak_ptr<flush_target>> due;
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
    auto now = clock::now();
    while (!x.heap.empty() && x.heap.front().due <= now) {
      std::pop_heap(x.heap.begin(), x.heap.end(), later);
      due.push_back(std::move(x.heap.back().target));
      x.heap.pop_back();
    }
    guard.unlock();
    for (auto& t : due)
      if (auto target = t.lock())
        target->flush_due();
    due.clear();
    guard.lock();
  }
}

} // namespace mm
