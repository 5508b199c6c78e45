#pragma once

// Clocks of the load generator: monotonic for durations, real time for
// latencies (a tick's `ts` is the publisher's wall clock).

#include <chrono>
#include <cstdint>
#include <ctime>
#include <thread>

namespace mm::bench {

inline int64_t clock_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

inline int64_t mono_ns() {
  return clock_ns(CLOCK_MONOTONIC);
}

inline int64_t real_ns() {
  return clock_ns(CLOCK_REALTIME);
}

inline double seconds_since(int64_t mono_start) {
  return static_cast<double>(mono_ns() - mono_start) / 1e9;
}

inline void sleep_for_ms(int64_t ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds{ms});
}

} // namespace mm::bench
