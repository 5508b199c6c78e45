#include "actors/update_history.hpp"

#include "actors/metrics.hpp"

namespace mm {

int64_t update_history::entry_bytes(const price_update& x) {
  // caf::message's data block: a ref count, a vtable and the value.
  constexpr size_t message_overhead = 48;
  size_t heap = x.ticker.capacity() > 15 ? x.ticker.capacity() + 1 : 0;
  return static_cast<int64_t>(sizeof(entry) + message_overhead
                              + sizeof(price_update) + heap);
}

update_history::update_history(uint32_t size, std::chrono::milliseconds ttl,
                               metrics* m)
  : size_(size), ttl_(ttl), m_(m) {
  // nop
}

update_history::~update_history() {
  while (!entries_.empty())
    pop_front();
}

void update_history::pop_front() {
  if (m_ != nullptr) {
    metrics::add(m_->history_entries, -1);
    metrics::add(m_->history_bytes, -entries_.front().bytes);
  }
  entries_.pop_front();
}

void update_history::add(const caf::message& update, time_point now) {
  if (size_ == 0)
    return;
  const auto& u = update.get_as<price_update>(0);
  if (!entries_.empty()) {
    const auto& newest = entries_.back().update.get_as<price_update>(0);
    if (newest.epoch != u.epoch || newest.seq + 1 != u.seq)
      while (!entries_.empty())
        pop_front();
  }
  auto bytes = entry_bytes(u);
  entries_.push_back(entry{update, now, bytes});
  if (m_ != nullptr) {
    metrics::add(m_->history_entries, 1);
    metrics::add(m_->history_bytes, bytes);
  }
  while (entries_.size() > size_)
    pop_front();
  prune(now);
}

void update_history::prune(time_point now) {
  while (!entries_.empty() && entries_.front().at + ttl_ <= now)
    pop_front();
}

update_history::time_point update_history::next_expiry() const {
  return entries_.front().at + ttl_;
}

resume_reply update_history::resume(const stream_position& pos,
                                    const caf::message& last) const {
  resume_reply result;
  auto not_recovered = [&] {
    if (!last.empty())
      result.updates.push_back(last.get_as<price_update>(0));
    return result;
  };
  if (last.empty() || pos.epoch == 0)
    return not_recovered();
  const auto& newest = last.get_as<price_update>(0);
  if (pos.epoch != newest.epoch || pos.seq > newest.seq)
    return not_recovered();
  if (pos.seq == newest.seq) {
    result.recovered = true; // missed nothing
    return result;
  }
  if (entries_.empty())
    return not_recovered();
  const auto& oldest = entries_.front().update.get_as<price_update>(0);
  const auto& kept = entries_.back().update.get_as<price_update>(0);
  if (oldest.epoch != pos.epoch || oldest.seq > pos.seq + 1
      || kept.seq != newest.seq || kept.epoch != newest.epoch)
    return not_recovered();
  result.recovered = true;
  auto first = entries_.begin()
               + static_cast<ptrdiff_t>(pos.seq + 1 - oldest.seq);
  for (auto i = first; i != entries_.end(); ++i)
    result.updates.push_back(i->update.get_as<price_update>(0));
  return result;
}

} // namespace mm
