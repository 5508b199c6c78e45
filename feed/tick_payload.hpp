#pragma once

// The feed's payload (API.md, "Redis feed"): {"price":P,"volume":V,"ts":T}
// with `ts` in nanoseconds since the epoch. mm-feed, mm-bench's feed and the
// integration tests write it with this one function.

#include <cstddef>
#include <cstdint>
#include <string>

namespace mm::feed {

/// Room for any payload `write_tick_payload` writes, with its NUL.
inline constexpr size_t max_tick_payload = 96;

/// Writes the payload of one tick into `buf` (NUL-terminated) and returns
/// its length. The price is written in the shortest form that reads back
/// as the same double (189.25, 0.1, 100); a price that is not finite is
/// written as `null` (the server refuses it, as it should).
size_t write_tick_payload(char (&buf)[max_tick_payload], double price,
                          int64_t volume, int64_t ts);

/// The same as a string.
std::string tick_payload(double price, int64_t volume, int64_t ts);

} // namespace mm::feed
