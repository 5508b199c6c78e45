#include "actors/tick_rate.hpp"

#include <utility>

#include <caf/message.hpp>

namespace mm {

namespace {

int64_t second_of(tick_rate::time_point t) {
  using std::chrono::duration_cast;
  return duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

} // namespace

std::vector<price_update> last_of(const caf::message& last) {
  if (last.empty())
    return {};
  return {last.get_as<price_update>(0)};
}

void tick_rate::count(time_point now) {
  last_tick_at_ = now;
  auto sec = second_of(now);
  auto i = static_cast<size_t>(sec) % rate_window;
  if (second_of_[i] != sec) {
    second_of_[i] = sec;
    per_second_[i] = 0;
  }
  ++per_second_[i];
}

std::vector<uint32_t> tick_rate::per_second(time_point now) const {
  // Oldest second first; seconds without a tick are slots of older seconds.
  std::vector<uint32_t> result;
  result.reserve(rate_window);
  auto sec = second_of(now);
  constexpr auto window = static_cast<int64_t>(rate_window);
  for (auto s = sec - window + 1; s <= sec; ++s) {
    auto i = static_cast<size_t>(s) % rate_window;
    result.push_back(second_of_[i] == s ? per_second_[i] : 0);
  }
  return result;
}

void tick_rate::describe(ticker_info& x, const caf::message& last,
                         time_point now) const {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  x.last = last_of(last);
  if (!last.empty())
    x.last_update_ms = duration_cast<milliseconds>(now - last_tick_at_).count();
  x.per_second = per_second(now);
}

ticker_health tick_rate::health(std::string ticker, const caf::message& last,
                                time_point now, bool upstream_connected) const {
  return make_ticker_health(std::move(ticker), last_of(last), last_tick_at_,
                            now, upstream_connected);
}

} // namespace mm
