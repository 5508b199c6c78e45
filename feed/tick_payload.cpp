#include "feed/tick_payload.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string_view>

namespace mm::feed {

namespace {

/// Appends `text` at `pos`; returns the new end.
char* put(char* pos, std::string_view text) {
  return std::copy(text.begin(), text.end(), pos);
}

} // namespace

size_t write_tick_payload(char (&buf)[max_tick_payload], double price,
                          int64_t volume, int64_t ts) {
  // 10 + 24 (a double) + 10 + 20 + 6 + 20 + 1 < max_tick_payload.
  auto* end = buf + max_tick_payload - 1;
  auto* pos = put(buf, "{\"price\":");
  pos = std::isfinite(price) ? std::to_chars(pos, end, price).ptr
                             : put(pos, "null");
  pos = put(pos, ",\"volume\":");
  pos = std::to_chars(pos, end, volume).ptr;
  pos = put(pos, ",\"ts\":");
  pos = std::to_chars(pos, end, ts).ptr;
  pos = put(pos, "}");
  *pos = '\0';
  return static_cast<size_t>(pos - buf);
}

std::string tick_payload(double price, int64_t volume, int64_t ts) {
  char buf[max_tick_payload];
  auto len = write_tick_payload(buf, price, volume, ts);
  return std::string(buf, len);
}

} // namespace mm::feed
