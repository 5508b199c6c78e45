#include "actors/session_inbox.hpp"

#include <algorithm>
#include <functional>

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
  s.ticker = std::hash<std::string>{}(ticker);
  s.open = true;
  return n;
}

void session_inbox::reserve(size_t more) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto fresh = more > free_.size() ? more - free_.size() : 0;
  slots_.reserve(slots_.size() + fresh);
  order_.reserve(slots_.size() + fresh);
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
  auto ticker = std::hash<std::string>{}(u.ticker);
  std::shared_ptr<inbox_pump> pump;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (n >= slots_.size() || !slots_[n].open || slots_[n].ticker != ticker)
      return false;
    auto& s = slots_[n];
    if (s.update.empty()) {
      s.update = update;
      order_.push_back(n);
    } else if (const auto& old = s.update.get_as<price_update>(0);
               old.epoch != u.epoch || old.seq < u.seq) {
      // A new epoch restarts seq: its updates are newer whatever their seq.
      s.gap = s.gap || old.gap;
      s.update = update;
      ++s.replaced;
    } else {
      return false; // not newer: e.g. a snapshot raced a live update
    }
    last_put_ = now;
    // A slot held back by take_due goes when the session's timer says so;
    // only the first such put after a take tells the session (to arm it).
    if (armed_ || (s.due > now && held_))
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
    out.push_back(entry{std::move(s.update), s.replaced, s.gap});
    s.update = caf::message{};
    s.replaced = 0;
    s.gap = false;
  }
  order_.erase(order_.begin(), order_.begin() + static_cast<ptrdiff_t>(n));
  if (order_.empty())
    armed_ = false;
  return replaced;
}

uint64_t session_inbox::take_due(size_t limit, std::vector<entry>& out,
                                 std::chrono::steady_clock::time_point now,
                                 std::chrono::nanoseconds interval,
                                 std::chrono::steady_clock::time_point& next) {
  std::lock_guard<std::mutex> guard{mtx_};
  uint64_t replaced = 0;
  size_t taken = 0;
  bool any_left = false;
  bool due_left = false;
  auto kept = order_.begin();
  for (auto n : order_) {
    auto& s = slots_[n];
    if (taken < limit && s.due <= now) {
      ++taken;
      replaced += s.replaced;
      out.push_back(entry{std::move(s.update), s.replaced, s.gap});
      s.update = caf::message{};
      s.replaced = 0;
      s.gap = false;
      s.due = now + interval;
      continue;
    }
    if (!any_left || s.due < next)
      next = s.due;
    any_left = true;
    due_left = due_left || s.due <= now;
    *kept++ = n;
  }
  order_.erase(kept, order_.end());
  // The session comes back for what is due (a full batch went); for the
  // rest it has its timer, and a put to a slot that is due wakes it.
  if (!due_left)
    armed_ = false;
  held_ = any_left;
  return replaced;
}

void session_inbox::drop_up_to(uint32_t n, uint64_t epoch, uint64_t seq) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (n >= slots_.size() || slots_[n].update.empty())
    return;
  auto& s = slots_[n];
  const auto& u = s.update.get_as<price_update>(0);
  if (u.epoch != epoch || u.seq > seq)
    return;
  s.update = caf::message{};
  s.replaced = 0;
  s.gap = false;
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
