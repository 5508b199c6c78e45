#pragma once

#include <atomic>
#include <cstdint>

namespace mm {

/// Node-wide counters, bumped by the actors that see the events and read live
/// by `stats`. Relaxed atomics: totals, not a synchronisation device.
struct metrics {
  std::atomic<int64_t> sessions{0};
  std::atomic<uint64_t> sessions_created_total{0};
  std::atomic<uint64_t> ticks_received_total{0};
  std::atomic<uint64_t> ticks_malformed_total{0};
  std::atomic<uint64_t> updates_delivered_total{0};
  std::atomic<uint64_t> updates_conflated_total{0};
  std::atomic<uint64_t> batches_sent_total{0};
  std::atomic<int64_t> streams{0};
  std::atomic<int64_t> broadcasters{0};
  std::atomic<int64_t> redis_subscriptions{0};
  /// Edge: running relays. Hub: remote subscribers at its broadcasters.
  std::atomic<int64_t> relays{0};
  std::atomic<bool> redis_connected{false};
  /// Updates kept for resuming sessions by all broadcasters and relays, and
  /// an estimate of their memory (history_entry_bytes each).
  std::atomic<int64_t> history_entries{0};
  std::atomic<int64_t> history_bytes{0};

  static void add(std::atomic<uint64_t>& x, uint64_t n = 1) {
    x.fetch_add(n, std::memory_order_relaxed);
  }
  static void add(std::atomic<int64_t>& x, int64_t n) {
    x.fetch_add(n, std::memory_order_relaxed);
  }

  /// One batch of `updates` went to a client; its updates had replaced
  /// `conflated` older ones.
  void count_batch(uint64_t updates, uint64_t conflated) {
    add(batches_sent_total);
    add(updates_delivered_total, updates);
    if (conflated > 0)
      add(updates_conflated_total, conflated);
  }
};

} // namespace mm
