#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "feed/redis_publisher.hpp"

namespace mm::bench {

/// The benchmark's own feed: one thread publishing ticks round robin over
/// the tickers at a fixed rate to Redis (feed/: paced, pipelined), each
/// with `ts` = its publish time. It counts per ticker the ticks whose `ts`
/// falls into the measured window, which is what every subscriber should
/// receive.
class feed_publisher {
public:
  feed_publisher(std::string host, int port, const std::string& prefix,
                 const std::vector<std::string>& tickers, double rate);
  ~feed_publisher();

  feed_publisher(const feed_publisher&) = delete;
  feed_publisher& operator=(const feed_publisher&) = delete;

  /// Connects and PINGs; returns what went wrong, or an empty string.
  std::string connect();

  /// Starts publishing on a thread of its own.
  void start();

  /// Stops publishing and joins the thread.
  void stop();

  /// Counts the ticks with begin <= ts < end (unix ns) from now on.
  void set_window(int64_t begin, int64_t end);

  /// Ticks per ticker inside the window; read after `stop`.
  const std::vector<uint64_t>& published_in_window() const {
    return in_window_;
  }

  uint64_t published_total() const {
    return published_.load(std::memory_order_relaxed);
  }

  /// Publishes that Redis refused or that failed on the connection.
  uint64_t errors() const {
    return errors_.load(std::memory_order_relaxed);
  }

private:
  void run();
  bool reconnect();

  mm::feed::redis_settings redis_;
  std::vector<std::string> channels_;
  double rate_;
  mm::feed::redis_publisher conn_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> window_begin_{INT64_MAX};
  std::atomic<int64_t> window_end_{INT64_MAX};
  std::vector<uint64_t> in_window_;
  std::atomic<uint64_t> published_{0};
  std::atomic<uint64_t> errors_{0};
};

} // namespace mm::bench
