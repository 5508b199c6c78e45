#pragma once

#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

namespace mm {

/// A map kept as a vector sorted by key: for the few keys of one actor (a
/// session's tickers), where std::map's node per key (80 bytes and a heap
/// block for a ticker) costs more than the data. Lookups are binary
/// searches; inserting and erasing move the elements after the position.
/// Iterators are invalidated by every insertion and erasure.
template <class Key, class Value>
class flat_map {
public:
  using value_type = std::pair<Key, Value>;
  using iterator = typename std::vector<value_type>::iterator;
  using const_iterator = typename std::vector<value_type>::const_iterator;

  iterator begin() noexcept {
    return xs_.begin();
  }

  iterator end() noexcept {
    return xs_.end();
  }

  const_iterator begin() const noexcept {
    return xs_.begin();
  }

  const_iterator end() const noexcept {
    return xs_.end();
  }

  size_t size() const noexcept {
    return xs_.size();
  }

  bool empty() const noexcept {
    return xs_.empty();
  }

  void reserve(size_t n) {
    xs_.reserve(n);
  }

  iterator find(const Key& key) {
    auto i = lower_bound(key);
    return i != xs_.end() && i->first == key ? i : xs_.end();
  }

  const_iterator find(const Key& key) const {
    return const_cast<flat_map*>(this)->find(key);
  }

  size_t count(const Key& key) const {
    return find(key) != end() ? 1 : 0;
  }

  /// Inserts `key` with a default value unless it is there; returns its
  /// position and whether it was inserted, as std::map::try_emplace.
  std::pair<iterator, bool> try_emplace(const Key& key) {
    auto i = lower_bound(key);
    if (i != xs_.end() && i->first == key)
      return {i, false};
    return {xs_.emplace(i, key, Value{}), true};
  }

  iterator erase(iterator i) {
    return xs_.erase(i);
  }

private:
  iterator lower_bound(const Key& key) {
    return std::lower_bound(xs_.begin(), xs_.end(), key,
                            [](const value_type& x, const Key& y) {
                              return x.first < y;
                            });
  }

  std::vector<value_type> xs_;
};

} // namespace mm
