#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

namespace mm::bench {

/// A log-linear histogram of nanosecond values (HdrHistogram's layout):
/// 2^sub_bits linear buckets per power of two, so every recorded value is
/// known within 1/2^sub_bits (3 %). The buckets are relaxed atomics: gRPC's
/// threads record concurrently without a lock, and readers look only after
/// the recording stopped.
class latency_histogram {
public:
  static constexpr int sub_bits = 5;
  static constexpr int64_t sub_count = int64_t{1} << sub_bits;
  /// Values up to 2^45 ns (about 9.7 hours) have a bucket.
  static constexpr int max_shift = 45 - sub_bits;
  static constexpr size_t bucket_count = (max_shift + 2) * sub_count;

  latency_histogram() : buckets_(new std::atomic<uint64_t>[bucket_count]) {
    for (size_t i = 0; i < bucket_count; ++i)
      buckets_[i].store(0, std::memory_order_relaxed);
  }

  /// Records `n` values; negative values (clock skew) count as 0. The
  /// totals are added once per call, so a batch costs one update of the
  /// shared counters, not one per value.
  void record(const int64_t* values, size_t n) {
    uint64_t sum = 0;
    int64_t top = 0;
    for (size_t i = 0; i < n; ++i) {
      auto v = std::max<int64_t>(values[i], 0);
      buckets_[index(v)].fetch_add(1, std::memory_order_relaxed);
      sum += static_cast<uint64_t>(v);
      top = std::max(top, v);
    }
    count_.fetch_add(n, std::memory_order_relaxed);
    sum_.fetch_add(sum, std::memory_order_relaxed);
    auto prev = max_.load(std::memory_order_relaxed);
    while (top > prev
           && !max_.compare_exchange_weak(prev, top, std::memory_order_relaxed))
      ; // retry
  }

  uint64_t count() const {
    return count_.load(std::memory_order_relaxed);
  }

  int64_t max() const {
    return max_.load(std::memory_order_relaxed);
  }

  double mean() const {
    auto n = count();
    return n == 0 ? 0.0
                  : static_cast<double>(sum_.load(std::memory_order_relaxed))
                      / static_cast<double>(n);
  }

  /// The value below which the fraction `q` (0..1) of the records lie: the
  /// middle of the bucket holding that rank, never above the exact maximum.
  int64_t quantile(double q) const {
    auto n = count();
    if (n == 0)
      return 0;
    auto rank = static_cast<uint64_t>(q * static_cast<double>(n));
    if (rank >= n)
      rank = n - 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < bucket_count; ++i) {
      seen += buckets_[i].load(std::memory_order_relaxed);
      if (seen > rank) {
        auto [low, width] = bucket_range(i);
        return std::min(low + width / 2, max());
      }
    }
    return max();
  }

private:
  static size_t index(int64_t v) {
    if (v < sub_count)
      return static_cast<size_t>(v);
    int msb = 63 - __builtin_clzll(static_cast<uint64_t>(v));
    int shift = std::min(msb - sub_bits, max_shift);
    auto top = std::min<int64_t>(v >> shift, 2 * sub_count - 1);
    return static_cast<size_t>((shift + 1) * sub_count + (top - sub_count));
  }

  /// Lowest value and width of bucket `i`.
  static std::pair<int64_t, int64_t> bucket_range(size_t i) {
    auto idx = static_cast<int64_t>(i);
    if (idx < sub_count)
      return {idx, 1};
    auto shift = idx / sub_count - 1;
    auto top = sub_count + idx % sub_count;
    return {top << shift, int64_t{1} << shift};
  }

  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_{0};
  std::atomic<int64_t> max_{0};
};

} // namespace mm::bench
