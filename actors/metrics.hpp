#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace mm {

/// A histogram with fixed bucket bounds for Prometheus, kept in whole units
/// (nanoseconds, updates) so that observing is a few relaxed atomic adds.
/// `counts[i]` holds the observations in (bounds[i-1], bounds[i]]; the last
/// slot holds those above every bound (+Inf). Readers add them up, so a
/// scrape never blocks a writer.
template <size_t N>
struct histogram {
  std::array<uint64_t, N> bounds;
  std::array<std::atomic<uint64_t>, N + 1> counts{};
  std::atomic<uint64_t> sum{0};

  explicit constexpr histogram(const std::array<uint64_t, N>& xs) : bounds(xs) {
    // nop
  }

  /// The slot of `x`.
  size_t slot(uint64_t x) const {
    size_t i = 0;
    while (i < N && x > bounds[i])
      ++i;
    return i;
  }

  void observe(uint64_t x) {
    counts[slot(x)].fetch_add(1, std::memory_order_relaxed);
    sum.fetch_add(x, std::memory_order_relaxed);
  }

  /// Collects the observations of one batch locally and adds them with one
  /// atomic add per touched slot.
  class batch {
  public:
    explicit batch(histogram& h) : h_(h) {
      // nop
    }

    void observe(uint64_t x) {
      ++counts_[h_.slot(x)];
      sum_ += x;
    }

    void commit() {
      for (size_t i = 0; i <= N; ++i)
        if (counts_[i] != 0)
          h_.counts[i].fetch_add(counts_[i], std::memory_order_relaxed);
      h_.sum.fetch_add(sum_, std::memory_order_relaxed);
    }

  private:
    histogram& h_;
    std::array<uint64_t, N + 1> counts_{};
    uint64_t sum_ = 0;
  };
};

/// How a session ended, as the `reason` label of
/// marketmonitor_sessions_ended_total.
enum class end_reason : uint8_t {
  stop,
  cancel,
  deadline,
  attach_timeout,
  peer_dead,
  evicted,
  killed,
  shutdown,
  token_expired,
  other,
};

constexpr size_t end_reason_count = 10;

/// The label value of `x`.
constexpr const char* to_label(end_reason x) {
  constexpr const char* names[] = {
    "stop",    "cancel", "deadline", "attach_timeout", "peer_dead",
    "evicted", "killed", "shutdown", "token_expired",  "other"};
  return names[static_cast<size_t>(x)];
}

/// The RPCs counted by method (marketmonitor_grpc_calls_total); anything
/// else on the port counts as "other".
constexpr const char* rpc_methods[] = {
  "/marketmonitor.v1.MarketMonitor/StartPriceMonitoring",
  "/marketmonitor.v1.MarketMonitor/StreamPriceUpdates",
  "/marketmonitor.v1.MarketMonitor/UpdateSubscription",
  "/marketmonitor.v1.MarketMonitor/StopPriceMonitoring",
  "/marketmonitor.v1.MarketMonitor/Subscribe",
  "/marketmonitor.v1.MarketMonitor/GetLastPrices",
  "/grpc.health.v1.Health/Check",
  "/grpc.health.v1.Health/Watch",
  "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
  "other",
};

constexpr size_t rpc_method_count = sizeof(rpc_methods) / sizeof(char*);

/// gRPC status codes 0 (OK) to 16 (UNAUTHENTICATED).
constexpr size_t rpc_code_count = 17;

/// Node-wide counters, bumped by the actors that see the events and read live
/// by `stats` and /metrics. Relaxed atomics: totals, not a synchronisation
/// device.
struct metrics {
  std::atomic<int64_t> sessions{0};
  std::atomic<uint64_t> sessions_created_total{0};
  /// Ended sessions by end_reason (the registry counts them).
  std::array<std::atomic<uint64_t>, end_reason_count> sessions_ended{};
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
  /// Redis refused our AUTH (--redis-user, --redis-password-file) on the
  /// last connection; health says so.
  std::atomic<bool> redis_auth_refused{false};
  /// Updates kept for resuming sessions by all broadcasters and relays, and
  /// an estimate of their memory (history_entry_bytes each).
  std::atomic<int64_t> history_entries{0};
  std::atomic<int64_t> history_bytes{0};
  /// Since when Redis is unreachable (steady clock, ns); valid while
  /// `redis_connected` is false. The node's start until the first connect.
  std::atomic<int64_t> redis_down_since_ns{steady_now_ns()};
  /// Connections to Redis made after the first one.
  std::atomic<uint64_t> redis_reconnects_total{0};
  /// Edge: hubs it is connected to, and since when none (steady clock, ns;
  /// valid while there is none).
  std::atomic<int64_t> cluster_links_up{0};
  std::atomic<int64_t> hubs_down_since_ns{steady_now_ns()};
  /// Calls refused by a limit per client (docs/security.md).
  std::atomic<uint64_t> client_session_limit_total{0};
  std::atomic<uint64_t> rate_limited_total{0};
  std::atomic<uint64_t> ticker_limit_total{0};
  std::atomic<uint64_t> ticker_not_allowed_total{0};
  /// Set once the node shuts down: health says NOT_SERVING from then on.
  std::atomic<bool> shutting_down{false};
  /// Finished RPCs by method (rpc_methods) and status code.
  std::array<std::array<std::atomic<uint64_t>, rpc_code_count>,
             rpc_method_count>
    rpc_calls{};
  /// From the feed's `ts` to the hand-over of its batch to gRPC, per update.
  histogram<16> tick_to_write_ns{
    {{100'000, 250'000, 500'000, 1'000'000, 2'500'000, 5'000'000, 10'000'000,
      25'000'000, 50'000'000, 100'000'000, 250'000'000, 500'000'000,
      1'000'000'000, 2'500'000'000, 5'000'000'000, 10'000'000'000}}};
  /// Updates per batch written to a client.
  histogram<11> batch_size{{{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000}}};

  static void add(std::atomic<uint64_t>& x, uint64_t n = 1) {
    x.fetch_add(n, std::memory_order_relaxed);
  }
  static void add(std::atomic<int64_t>& x, int64_t n) {
    x.fetch_add(n, std::memory_order_relaxed);
  }

  /// One batch `xs` went to a client; its updates had replaced `conflated`
  /// older ones. `ts_of(x)` is the feed time of update `x` in Unix ns.
  template <class Range, class TsOf>
  void count_batch(const Range& xs, uint64_t conflated, TsOf ts_of) {
    auto n = static_cast<uint64_t>(xs.size());
    add(batches_sent_total);
    add(updates_delivered_total, n);
    if (conflated > 0)
      add(updates_conflated_total, conflated);
    batch_size.observe(n);
    auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
    decltype(tick_to_write_ns)::batch latency{tick_to_write_ns};
    for (const auto& x : xs) {
      // A feed clock ahead of ours counts as no delay.
      int64_t ts = ts_of(x);
      latency.observe(now > ts ? static_cast<uint64_t>(now - ts) : 0);
    }
    latency.commit();
  }

  static int64_t steady_now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
  }

  /// The Redis connection came up or went down.
  void set_redis_connected(bool up) {
    if (!up && redis_connected.exchange(false))
      redis_down_since_ns = steady_now_ns();
    else if (up)
      redis_connected = true;
  }

  /// A link to a hub came up (+1) or went down (-1).
  void count_hub_link(int64_t delta) {
    if (cluster_links_up.fetch_add(delta) + delta == 0)
      hubs_down_since_ns = steady_now_ns();
  }

  void count_end(end_reason x) {
    add(sessions_ended[static_cast<size_t>(x)]);
  }
};

} // namespace mm
