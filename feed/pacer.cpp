#include "feed/pacer.hpp"

#include <algorithm>
#include <cmath>

namespace mm::feed {

pacer::pacer(const settings& cfg, int64_t start)
  : cfg_(cfg), period_(1e9 / cfg.rate), base_(start) {
  // nop
}

uint64_t pacer::batch_per_millisecond(double rate) {
  return static_cast<uint64_t>(std::clamp(std::ceil(rate / 1000), 1.0, 256.0));
}

int64_t pacer::slot_time(uint64_t k) const {
  return base_ + static_cast<int64_t>(static_cast<double>(k) * period_);
}

int64_t pacer::next_due() const {
  return slot_time(next_);
}

bool pacer::done() const {
  return next_due() >= cfg_.deadline;
}

uint64_t pacer::take(int64_t now) {
  if (cfg_.max_lag_ns > 0 && now - next_due() > cfg_.max_lag_ns)
    restart(now);
  // Slots due by now; at least the one the caller woke up for (rounding).
  auto elapsed =
    static_cast<uint64_t>(static_cast<double>(now - base_) / period_) + 1;
  auto due = elapsed > next_ ? elapsed - next_ : 1;
  auto n = std::min(std::max(due, cfg_.min_batch), cfg_.max_batch);
  if (cfg_.deadline != std::numeric_limits<int64_t>::max()) {
    // Never a slot that falls at or after the deadline.
    auto left = static_cast<uint64_t>(
      std::ceil(static_cast<double>(cfg_.deadline - base_) / period_));
    n = std::min(n, left > next_ ? left - next_ : 0);
  }
  next_ += n;
  return n;
}

void pacer::restart(int64_t now) {
  base_ = now;
  next_ = 0;
}

} // namespace mm::feed
