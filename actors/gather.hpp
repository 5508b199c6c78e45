#pragma once

// One reply gatherer: an actor asks N actors, collects their N replies or
// errors and then answers its own request once, with one vector.
//
//   [=](describe_atom) -> caf::result<std::vector<ticker_info>> {
//     auto acc = gather<ticker_info>::start(self, relays.size(), by_ticker);
//     for (auto& r : relays)
//       self->request(r, caf::infinite, describe_atom::value)
//         .then([acc](const ticker_info& x) { acc->add(x); },
//               [acc](const caf::error&) { acc->skip(); });
//     return acc->delegated();
//   }
//
// Each request ends in exactly one of add (one value, or a vector of them),
// skip (nothing to add: the target is gone, timed out or had nothing) or
// fail (the whole answer becomes an error). After the last one the promise
// gets the values, sorted by `less` if one was given (else in the order the
// replies came), or the last error given to fail. Zero requests answer the
// empty vector at once. ask_each covers the plain case: one message to
// every target, errors skipped.

#include <algorithm>
#include <cstddef>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/response_promise.hpp>
#include <caf/result.hpp>

namespace mm {

template <class T>
class gather {
public:
  /// Orders the values before they are delivered (none: arrival order).
  using less_fn = bool (*)(const T&, const T&);

  gather(caf::response_promise promise, size_t n, less_fn less)
    : promise_(std::move(promise)), left_(n), less_(less) {
    if (left_ == 0)
      deliver();
  }

  gather(const gather&) = delete;
  gather& operator=(const gather&) = delete;

  /// Gathers `n` replies for the request `self` handles now.
  template <class Self>
  static std::shared_ptr<gather> start(Self* self, size_t n,
                                       less_fn less = nullptr) {
    return std::make_shared<gather>(self->make_response_promise(), n, less);
  }

  /// One request answered `x`.
  void add(T x) {
    values_.push_back(std::move(x));
    done();
  }

  /// One request answered the values `xs`.
  void add(const std::vector<T>& xs) {
    values_.insert(values_.end(), xs.begin(), xs.end());
    done();
  }

  /// One request ended with nothing to add.
  void skip() {
    done();
  }

  /// One request failed the whole answer: the promise gets `err` (the last
  /// one, if several fail) once all requests ended.
  void fail(caf::error err) {
    failure_ = std::move(err);
    done();
  }

  /// How many requests have not ended yet.
  size_t left() const noexcept {
    return left_;
  }

  /// What the handler returns: the answer comes through the promise.
  caf::delegated<std::vector<T>> delegated() const noexcept {
    return {};
  }

private:
  void done() {
    if (left_ == 0 || --left_ > 0)
      return;
    deliver();
  }

  void deliver() {
    if (failure_) {
      promise_.deliver(std::move(failure_));
      return;
    }
    if (less_ != nullptr)
      std::stable_sort(values_.begin(), values_.end(), less_);
    promise_.deliver(std::move(values_));
  }

  caf::response_promise promise_;
  size_t left_;
  less_fn less_;
  std::vector<T> values_;
  caf::error failure_;
};

/// Orders by the field `ticker` (gather's `less`).
template <class T>
bool by_ticker(const T& x, const T& y) {
  return x.ticker < y.ticker;
}

/// Orders by the field `address` (gather's `less`).
template <class T>
bool by_address(const T& x, const T& y) {
  return x.address < y.address;
}

/// The actor of a target list's element: itself, or a map entry's value.
template <class Handle>
const Handle& target_of(const Handle& x) {
  return x;
}

template <class Key, class Handle>
const Handle& target_of(const std::pair<const Key, Handle>& x) {
  return x.second;
}

/// Sends `(xs...)` to every one of `targets` (actors, or a map to them) with
/// `timeout` and gathers the replies into `acc`: a `Reply` (one `T` or a vector
/// of them) is added, an error skipped. `acc` must count one request per
/// target.
template <class Reply, class T, class Self, class Targets, class Timeout,
          class... Ts>
void ask_each(Self* self, const std::shared_ptr<gather<T>>& acc,
              const Targets& targets, const Timeout& timeout, const Ts&... xs) {
  static_assert(
    std::is_same_v<Reply, T> || std::is_same_v<Reply, std::vector<T>>,
    "a reply is one T or a vector of T");
  for (const auto& target : targets)
    self->request(target_of(target), timeout, xs...)
      .then([acc](const Reply& x) { acc->add(x); },
            [acc](const caf::error&) { acc->skip(); });
}

} // namespace mm
