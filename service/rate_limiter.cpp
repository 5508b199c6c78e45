#include "service/rate_limiter.hpp"

#include <algorithm>

namespace mm {

namespace {

/// More buckets than this sweep at once, whatever the interval.
constexpr size_t sweep_size = 65536;

} // namespace

double token_bucket::level(clock::time_point now) const {
  if (now <= last_)
    return tokens_;
  std::chrono::duration<double> elapsed = now - last_;
  return std::min(burst_, tokens_ + elapsed.count() * rate_);
}

bool token_bucket::take(clock::time_point now) {
  auto tokens = level(now);
  last_ = std::max(last_, now);
  if (tokens < 1.0) {
    tokens_ = tokens;
    return false;
  }
  tokens_ = tokens - 1.0;
  return true;
}

bool token_bucket::full(clock::time_point now) const {
  return level(now) >= burst_;
}

rate_limiter::rate_limiter(uint32_t rate, uint32_t burst)
  : rate_(rate), burst_(burst == 0 ? rate : burst), sweep_at_(sweep_size) {
  // Full after burst / rate seconds; sweep at least once a second.
  auto secs = rate_ == 0 ? 1.0 : std::max(1.0, double(burst_) / rate_);
  refill_ = std::chrono::duration_cast<clock::duration>(
    std::chrono::duration<double>{secs});
}

bool rate_limiter::allow(const std::string& key, clock::time_point now) {
  if (rate_ == 0)
    return true;
  std::lock_guard<std::mutex> guard{mtx_};
  if (now >= next_sweep_ || buckets_.size() >= sweep_at_)
    sweep_locked(now);
  auto i = buckets_.find(key);
  if (i == buckets_.end())
    i = buckets_.emplace(key, token_bucket{double(rate_), double(burst_), now})
          .first;
  return i->second.take(now);
}

size_t rate_limiter::size() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return buckets_.size();
}

void rate_limiter::sweep_locked(clock::time_point now) {
  for (auto i = buckets_.begin(); i != buckets_.end();) {
    if (i->second.full(now))
      i = buckets_.erase(i);
    else
      ++i;
  }
  next_sweep_ = now + refill_;
  // Many busy clients: the next early sweep waits until their number
  // doubled, so that sweeping stays amortised O(1) per call.
  sweep_at_ = std::max(sweep_size, 2 * buckets_.size());
}

} // namespace mm
