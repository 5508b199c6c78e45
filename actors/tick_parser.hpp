#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <caf/expected.hpp>

#include "actors/price_update.hpp"

namespace mm {

/// Parses feed payloads (docs/api.md, "Redis feed"):
/// `{"price": 189.25, "volume": 100, "ts": 1763800000123456789}` with `price`
/// a finite number > 0 (required), `volume` an integer >= 0 (optional, 0),
/// `ts` unix nanoseconds (optional; `now_ns` when absent) and an optional
/// `ticker` that must equal the channel's ticker. Keeps its buffers between
/// calls; one instance per actor, not thread-safe.
class tick_parser {
public:
  tick_parser();
  ~tick_parser();
  tick_parser(const tick_parser&) = delete;
  tick_parser& operator=(const tick_parser&) = delete;

  /// Parses `payload` published on the channel of `ticker`. Returns the tick,
  /// or `ec::malformed_tick` with what was wrong (`text_of`).
  caf::expected<tick> parse(std::string_view payload, std::string_view ticker,
                            int64_t now_ns);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace mm
