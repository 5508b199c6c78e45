#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace mm {

/// A token bucket: holds up to `burst` tokens, refills at `rate` tokens per
/// second; each call takes one. Pure arithmetic on the times it is given.
class token_bucket {
public:
  using clock = std::chrono::steady_clock;

  token_bucket(double rate, double burst, clock::time_point now)
    : rate_(rate), burst_(burst), tokens_(burst), last_(now) {
    // nop
  }

  /// Takes one token if there is one at `now`.
  bool take(clock::time_point now);

  /// Whether the bucket is full again at `now` (nobody took a token for
  /// long enough): forgetting it then changes nothing.
  bool full(clock::time_point now) const;

private:
  double level(clock::time_point now) const;

  double rate_;
  double burst_;
  double tokens_;
  clock::time_point last_;
};

/// Token buckets per client key (`caller::key()`), thread-safe. A client
/// without a bucket starts with a full one; buckets that are full again are
/// dropped every so often, so memory follows the clients active in the last
/// few refill periods, not every client ever seen.
class rate_limiter {
public:
  using clock = token_bucket::clock;

  /// `rate` calls per second, `burst` at once (0: `rate`); `rate` 0: no
  /// limit.
  rate_limiter(uint32_t rate, uint32_t burst);

  /// Whether `key` may make a call at `now`; takes a token if so.
  bool allow(const std::string& key, clock::time_point now = clock::now());

  uint32_t rate() const {
    return rate_;
  }

  uint32_t burst() const {
    return burst_;
  }

  /// Buckets held right now.
  size_t size() const;

private:
  /// Drops the buckets that are full at `now` (locked by the caller).
  void sweep_locked(clock::time_point now);

  uint32_t rate_;
  uint32_t burst_;
  /// How long an idle bucket takes to fill up: the sweep interval.
  clock::duration refill_;
  mutable std::mutex mtx_;
  std::unordered_map<std::string, token_bucket> buckets_;
  clock::time_point next_sweep_;
  size_t sweep_at_ = 0;
};

} // namespace mm
