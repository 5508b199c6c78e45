#include "actors/session_inbox.hpp"

#include <algorithm>

namespace mm {

uint32_t session_inbox::open(const std::string& ticker) {
  std::lock_guard<std::mutex> guard{mtx_};
  uint32_t n;
  if (!free_.empty()) {
    n = free_.back();
    free_.pop_back();
  } else {
    n = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  auto& s = slots_[n];
  s.ticker = ticker;
  s.open = true;
  return n;
}

void session_inbox::close(uint32_t n) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (n >= slots_.size() || !slots_[n].open)
    return;
  auto& s = slots_[n];
  if (!s.update.empty())
    unlist(n);
  s = slot{};
  free_.push_back(n);
}

bool session_inbox::put(uint32_t n, const caf::message& update,
                        std::chrono::steady_clock::time_point now) {
  const auto& u = update.get_as<price_update>(0);
  std::shared_ptr<inbox_pump> pump;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (n >= slots_.size() || !slots_[n].open || slots_[n].ticker != u.ticker)
      return false;
    auto& s = slots_[n];
    if (s.update.empty()) {
      s.update = update;
      order_.push_back(n);
    } else if (s.update.get_as<price_update>(0).seq < u.seq) {
      s.update = update;
      ++s.replaced;
    } else {
      return false; // not newer: e.g. a snapshot raced a live update
    }
    last_put_ = now;
    if (armed_)
      return false;
    armed_ = true;
    pump = pump_.lock();
    if (!pump)
      return true;
  }
  pump->kick();
  return false;
}

void session_inbox::set_pump(std::weak_ptr<inbox_pump> pump) {
  std::lock_guard<std::mutex> guard{mtx_};
  pump_ = std::move(pump);
}

std::chrono::steady_clock::time_point session_inbox::last_put() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return last_put_;
}

uint64_t session_inbox::take(size_t limit, std::vector<entry>& out) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto n = std::min(limit, order_.size());
  uint64_t replaced = 0;
  for (size_t i = 0; i < n; ++i) {
    auto& s = slots_[order_[i]];
    replaced += s.replaced;
    out.push_back(entry{std::move(s.update), s.replaced});
    s.update = caf::message{};
    s.replaced = 0;
  }
  order_.erase(order_.begin(), order_.begin() + static_cast<ptrdiff_t>(n));
  if (order_.empty())
    armed_ = false;
  return replaced;
}

void session_inbox::drop_up_to(uint32_t n, uint64_t seq) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (n >= slots_.size() || slots_[n].update.empty())
    return;
  auto& s = slots_[n];
  if (s.update.get_as<price_update>(0).seq > seq)
    return;
  s.update = caf::message{};
  s.replaced = 0;
  unlist(n);
}

void session_inbox::unlist(uint32_t n) {
  order_.erase(std::find(order_.begin(), order_.end(), n));
  // Nothing left to look at: whoever put something next must wake.
  if (order_.empty())
    armed_ = false;
}

size_t session_inbox::size() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return order_.size();
}

} // namespace mm
