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

flush_clock::flush_clock() : thread_([this] { run(); }) {
  // nop
}

flush_clock::~flush_clock() {
  stop();
}

void flush_clock::schedule(clock::time_point due,
                           std::weak_ptr<flush_target> target) {
  using std::chrono::milliseconds;
  auto since = std::chrono::ceil<milliseconds>(due.time_since_epoch());
  due = clock::time_point{since};
  bool wake;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (stopped_)
      return;
    // The thread sleeps until the current front: wake it only for an
    // earlier one (most flushes are due after everything already waiting).
    wake = heap_.empty() || due < heap_.front().due;
    heap_.push_back(entry{due, std::move(target)});
    std::push_heap(heap_.begin(), heap_.end(), later);
  }
  if (wake)
    cv_.notify_one();
}

void flush_clock::stop() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (stopped_)
      return;
    stopped_ = true;
    heap_.clear();
  }
  cv_.notify_one();
  if (thread_.joinable())
    thread_.join();
}

size_t flush_clock::pending() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return heap_.size();
}

void flush_clock::run() {
  std::vector<std::weak_ptr<flush_target>> due;
  std::unique_lock<std::mutex> guard{mtx_};
  for (;;) {
    if (stopped_)
      return;
    if (heap_.empty()) {
      cv_.wait(guard);
      continue;
    }
    auto next = heap_.front().due;
    if (clock::now() < next) {
      cv_.wait_until(guard, next);
      continue;
    }
    auto now = clock::now();
    while (!heap_.empty() && heap_.front().due <= now) {
      std::pop_heap(heap_.begin(), heap_.end(), later);
      due.push_back(std::move(heap_.back().target));
      heap_.pop_back();
    }
    guard.unlock();
    for (auto& x : due)
      if (auto target = x.lock())
        target->flush_due();
    due.clear();
    guard.lock();
  }
}

} // namespace mm
