#pragma once

#include <algorithm>
#include <cstddef>
#include <deque>
#include <memory>

namespace mm {

/// A queue that allocates nothing while it has never held an element.
/// libstdc++'s std::deque allocates its map and a 512-byte node as soon as it
/// is constructed; a session keeps two queues that are empty for most
/// sessions (DELIVERY_MODE_ALL's queue, the resume replay), which cost 1 KB
/// per session in empty deques (docs/benchmarks.md, "Memory per session").
template <class T>
class lazy_deque {
public:
  bool empty() const noexcept {
    return !q_ || q_->empty();
  }

  size_t size() const noexcept {
    return q_ ? q_->size() : 0;
  }

  /// Precondition: !empty().
  T& front() {
    return q_->front();
  }

  /// Precondition: !empty().
  void pop_front() {
    q_->pop_front();
  }

  void push_back(const T& x) {
    get().push_back(x);
  }

  /// Appends [first, last).
  template <class Iterator>
  void append(Iterator first, Iterator last) {
    if (first != last)
      get().insert(get().end(), first, last);
  }

  /// Removes every element for which `pred` holds.
  template <class Predicate>
  void remove_if(Predicate pred) {
    if (q_)
      q_->erase(std::remove_if(q_->begin(), q_->end(), pred), q_->end());
  }

  /// Frees the storage once the queue is empty (for a queue that is used
  /// once, such as a replay).
  void release_if_empty() noexcept {
    if (q_ && q_->empty())
      q_.reset();
  }

private:
  std::deque<T>& get() {
    if (!q_)
      q_ = std::make_unique<std::deque<T>>();
    return *q_;
  }

  std::unique_ptr<std::deque<T>> q_;
};

} // namespace mm
