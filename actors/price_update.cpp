#include "actors/price_update.hpp"

#include <atomic>
#include <chrono>
#include <random>

namespace mm {

uint64_t make_epoch() {
  static std::atomic<uint64_t> counter{std::random_device{}()};
  using namespace std::chrono;
  auto ms = static_cast<uint64_t>(
    duration_cast<milliseconds>(system_clock::now().time_since_epoch())
      .count());
  constexpr uint64_t low_bits = 20;
  constexpr uint64_t low_mask = (uint64_t{1} << low_bits) - 1;
  auto n = counter.fetch_add(1, std::memory_order_relaxed) & low_mask;
  auto result = (ms << low_bits) | n;
  return result != 0 ? result : 1;
}

} // namespace mm
